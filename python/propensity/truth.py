"""The generator's truth (demo data): how far the model is from the true probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

TRUTH_GOAL_ROC_AUC = 0.02  # the model should be within this ROC-AUC of the true probabilities
# The pooled gap's 95% interval: a bootstrap over entities (a customer's rows in every fold are
# resampled together, with Poisson(1) weights), fixed seed, so the same rows give the same interval.
GAP_BOOTSTRAP_RESAMPLES = 400
GAP_BOOTSTRAP_SEED = 20261202


# The columns that can identify a truth row besides snapshot_date.
ENTITY_KEYS = ("customer_id", "lead_id", "product_category")


class TruthError(ValueError):
    """The truth file cannot be compared with the predictions."""


@dataclass(frozen=True)
class TruthComparison:
    """The model's and the true probabilities' ranking quality on the same rows."""

    label: str  # "fold 1" ... or "pooled"
    snapshot: str
    rows: int
    positives: int
    model_roc_auc: float
    truth_roc_auc: float
    model_pr_auc: float
    truth_pr_auc: float
    # The ROC-AUC gap's 95% bootstrap interval (the pooled comparison only).
    gap_interval: tuple[float, float] | None = None

    @property
    def roc_auc_gap(self) -> float:
        """How much ROC-AUC the truth has over the model."""
        return self.truth_roc_auc - self.model_roc_auc

    @property
    def pr_auc_gap(self) -> float:
        """How much PR-AUC the truth has over the model."""
        return self.truth_pr_auc - self.model_pr_auc

    @property
    def meets_goal(self) -> bool:
        """Whether the model is within TRUTH_GOAL_ROC_AUC of the truth."""
        return self.roc_auc_gap <= TRUTH_GOAL_ROC_AUC

    @property
    def goal_in_interval(self) -> bool | None:
        """Whether the goal lies inside the gap's 95% interval: the rows cannot tell the gap
        from the goal (None without an interval)."""
        if self.gap_interval is None:
            return None
        low, high = self.gap_interval
        return low <= TRUTH_GOAL_ROC_AUC <= high


@dataclass(frozen=True)
class TruthGap:
    """Per fold and pooled comparisons with the truth on the predictions that matched it."""

    truth_column: str
    prediction_rows: int
    matched_rows: int
    folds: list[TruthComparison]
    pooled: TruthComparison


def truth_column(columns: Sequence[str], task: str) -> str:
    """The truth file's probability column for a task: true_<task>_probability."""
    wanted = f"true_{task}_probability"
    if wanted in columns:
        return wanted
    raise TruthError(f"the truth file has no {wanted} column (columns: {', '.join(columns)})")


def _compare(label: str, snapshot: str, rows: pd.DataFrame, column: str) -> TruthComparison:
    labels = rows["label"].astype(int).to_numpy()
    if labels.min() == labels.max():
        raise TruthError(f"{label}: the rows matched to the truth hold one class only")
    return TruthComparison(
        label=label,
        snapshot=snapshot,
        rows=len(rows),
        positives=int(labels.sum()),
        model_roc_auc=float(roc_auc_score(labels, rows["score"])),
        truth_roc_auc=float(roc_auc_score(labels, rows[column])),
        model_pr_auc=float(average_precision_score(labels, rows["score"])),
        truth_pr_auc=float(average_precision_score(labels, rows[column])),
    )


def weighted_roc_auc(labels: np.ndarray, groups: np.ndarray, weights: np.ndarray) -> float:
    """ROC-AUC with row weights, from the rows' score ranks (`groups`: the index of each row's
    distinct score in ascending order; tied scores count one half)."""
    size = int(groups.max()) + 1
    positives = np.bincount(groups, weights=weights * labels, minlength=size)
    negatives = np.bincount(groups, weights=weights * (1 - labels), minlength=size)
    below = np.cumsum(negatives) - negatives
    ranked_pairs = (positives * (below + 0.5 * negatives)).sum()
    return float(ranked_pairs / (positives.sum() * negatives.sum()))


def gap_interval(
    labels: np.ndarray,
    score: np.ndarray,
    truth: np.ndarray,
    entities: np.ndarray,
    *,
    resamples: int = GAP_BOOTSTRAP_RESAMPLES,
    seed: int = GAP_BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """The 95% percentile interval of truth ROC-AUC minus model ROC-AUC over bootstrap
    resamples of entities (every row of an entity shares its Poisson(1) weight)."""
    labels = np.asarray(labels, dtype=np.float64)
    score_groups = np.unique(np.asarray(score), return_inverse=True)[1]
    truth_groups = np.unique(np.asarray(truth), return_inverse=True)[1]
    entity_index = np.unique(np.asarray(entities), return_inverse=True)[1]
    rng = np.random.default_rng(seed)
    gaps = np.empty(resamples)
    for draw in range(resamples):
        weights = rng.poisson(1.0, entity_index.max() + 1)[entity_index].astype(np.float64)
        gaps[draw] = weighted_roc_auc(labels, truth_groups, weights) - weighted_roc_auc(
            labels, score_groups, weights
        )
    low, high = np.percentile(gaps, [2.5, 97.5])
    return float(low), float(high)


def truth_gap(predictions: pd.DataFrame, truth: pd.DataFrame, column: str) -> TruthGap:
    """The model's out-of-time score (the chosen family, raw) against the true probability
    on the prediction rows the truth covers, joined on the entity keys both carry
    (customer_id or lead_id, and product_category for cross-sell) and snapshot_date."""
    keys = [key for key in ENTITY_KEYS if key in predictions and key in truth]
    if not keys:
        raise TruthError(f"the truth file and the predictions share no key of {ENTITY_KEYS}")
    keys.append("snapshot_date")
    left = predictions[["fold", *keys, "label", "score"]].copy()
    right = truth[[*keys, column]].copy()
    for frame in (left, right):
        frame["snapshot_date"] = pd.to_datetime(frame["snapshot_date"]).dt.normalize()
    right = right.drop_duplicates(keys)
    matched = left.merge(right, on=keys, how="inner").dropna(subset=[column, "score"])
    if matched.empty:
        raise TruthError(f"no prediction row matches the truth file on {', '.join(keys)}")
    folds = [
        _compare(
            f"fold {fold}",
            f"{rows['snapshot_date'].min():%Y-%m-%d}",
            rows,
            column,
        )
        for fold, rows in matched.groupby("fold", sort=True)
    ]
    pooled = _compare("pooled", "all folds", matched, column)
    interval = gap_interval(
        matched["label"].astype(int).to_numpy(),
        matched["score"].to_numpy(),
        matched[column].to_numpy(),
        matched[keys[0]].to_numpy(),
    )
    pooled = replace(pooled, gap_interval=interval)
    return TruthGap(
        truth_column=column,
        prediction_rows=len(predictions),
        matched_rows=len(matched),
        folds=folds,
        pooled=pooled,
    )


def truth_file_for(path: Path, task: str) -> Path:
    """A task's truth file: the path itself, or <task>_truth.parquet in a truth directory."""
    return path / f"{task}_truth.parquet" if path.is_dir() else path


def read_truth(path: Path, task: str) -> tuple[pd.DataFrame, str]:
    """The truth file's keys and probability column for `task`."""
    if not path.exists():
        raise TruthError(f"no truth file at {path}")
    with duckdb.connect() as connection:
        columns = [
            row[0]
            for row in connection.execute(
                "select column_name from (describe select * from read_parquet(?))", [str(path)]
            ).fetchall()
        ]
        column = truth_column(columns, task)
        keys = [key for key in ENTITY_KEYS if key in columns]
        frame = connection.execute(
            f'select {", ".join(keys)}, snapshot_date, "{column}" from read_parquet(?)',
            [str(path)],
        ).df()
    return frame, column
