"""Honest evaluation of predicted amounts (revenue per customer) on out-of-time rows.

Two kinds of scorer are measured on the same rows: amount scorers (the candidate models and
amount rules such as the run rate) get every metric; ranking rules (RFM) get the ranking
metrics only, since their scores are not amounts.

* Error metrics (amounts only): RMSE, MAE, mean Poisson deviance (only where every prediction
  is positive; it is infinite otherwise), R-squared, and the calibration ratio sum(predicted) /
  sum(actual) (1 is right on average, above 1 over-promises).
* Ranking metrics (every scorer): Spearman rank correlation; the normalised Gini of revenue
  (the Gini of the revenue gains curve ordered by the score, divided by the Gini of the
  perfect order by actual revenue: 1 is perfect, 0 is random); the share of actual revenue
  captured by the top 10% and 20% of customers by score. Customers with tied scores are one
  block on the gains curve, which runs straight across it: the expected value under a random
  order within ties, so a coarse score (RFM has 13 values) is neither helped nor hurt by the
  order rows happen to come in.
* Deciles by score (1 = best; ties keep row order): mean score, mean and total actual revenue,
  the decile's share of all revenue and the cumulative share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import mean_absolute_error, mean_poisson_deviance, r2_score

from propensity.evaluate import SEGMENTS, _thin

TOP_SHARES = (1, 5, 10, 20, 30, 50)  # percent of customers contacted in the top-k table
# Compared between the chosen model and every other scorer (amount metrics only where both
# scores are amounts).
REGRESSION_COMPARED = (
    "rmse",
    "mae",
    "poisson_deviance",
    "r2",
    "calibration_ratio",
    "spearman",
    "gini",
    "revenue_share_top_10",
    "revenue_share_top_20",
)
AMOUNT_METRICS = ("rmse", "mae", "poisson_deviance", "r2", "calibration_ratio")
SELECTION_METRIC = "poisson_deviance"


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def revenue_gains(actual: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The revenue gains curve: (share of customers, share of revenue) at each end of a block
    of tied scores, best scores first, from (0, 0) to (1, 1). Empty without revenue."""
    actual = np.asarray(actual, dtype=float)
    scores = np.asarray(scores, dtype=float)
    total = actual.sum()
    if not len(actual) or total <= 0:
        return np.array([]), np.array([])
    order = np.argsort(-scores, kind="stable")
    ordered_scores = scores[order]
    cumulative = np.cumsum(actual[order])
    # The last row of every block of equal scores.
    ends = np.flatnonzero(np.append(ordered_scores[1:] != ordered_scores[:-1], True))
    shares = np.concatenate([[0.0], (ends + 1) / len(actual)])
    captured = np.concatenate([[0.0], cumulative[ends] / total])
    return shares, captured


def revenue_share_at(actual: np.ndarray, scores: np.ndarray, fraction: float) -> float | None:
    """The share of actual revenue in the best-scored `fraction` of customers (read off the
    gains curve: ties share their block's revenue evenly)."""
    shares, captured = revenue_gains(actual, scores)
    if not len(shares):
        return None
    return float(np.interp(fraction, shares, captured))


def gini(actual: np.ndarray, scores: np.ndarray) -> float | None:
    """The Gini of revenue ordered by score: twice the area between the gains curve and the
    diagonal (0 for a random order)."""
    shares, captured = revenue_gains(actual, scores)
    if not len(shares):
        return None
    area = float(np.sum(np.diff(shares) * (captured[1:] + captured[:-1]) / 2))
    return 2 * area - 1


def normalised_gini(actual: np.ndarray, scores: np.ndarray) -> float | None:
    """Gini of the score's order / Gini of the perfect order (by actual revenue)."""
    model = gini(actual, scores)
    perfect = gini(actual, actual)
    if model is None or not perfect:
        return None
    return model / perfect


def spearman(actual: np.ndarray, scores: np.ndarray) -> float | None:
    """Spearman rank correlation (ties share their average rank); None when one is constant."""
    if len(actual) < 2 or np.ptp(actual) == 0 or np.ptp(scores) == 0:
        return None
    return _finite(spearmanr(actual, scores).statistic)


def poisson_deviance(actual: np.ndarray, predicted: np.ndarray) -> float | None:
    """Mean Poisson deviance 2 x mean(y log(y / mu) - (y - mu)); None unless every prediction
    is positive and every actual is at least 0."""
    if not len(actual) or (predicted <= 0).any() or (actual < 0).any():
        return None
    return float(mean_poisson_deviance(actual, predicted))


def regression_metrics(actual: np.ndarray, scores: np.ndarray, *, is_amount: bool) -> dict:
    """Every metric of one scorer on one set of rows (see the module docstring)."""
    actual = np.asarray(actual, dtype=float)
    scores = np.asarray(scores, dtype=float)
    total = float(actual.sum())
    metrics: dict[str, float | int | None] = {
        "rows": len(actual),
        "buyers": int((actual > 0).sum()),
        "actual_total": total,
        "actual_mean": float(actual.mean()) if len(actual) else None,
        "predicted_mean": None,
        "rmse": None,
        "mae": None,
        "poisson_deviance": None,
        "r2": None,
        "calibration_ratio": None,
        "spearman": spearman(actual, scores),
        "gini": normalised_gini(actual, scores),
        "revenue_share_top_10": revenue_share_at(actual, scores, 0.10),
        "revenue_share_top_20": revenue_share_at(actual, scores, 0.20),
    }
    if is_amount and len(actual):
        metrics["predicted_mean"] = float(scores.mean())
        metrics["rmse"] = float(np.sqrt(np.mean((actual - scores) ** 2)))
        metrics["mae"] = float(mean_absolute_error(actual, scores))
        metrics["poisson_deviance"] = poisson_deviance(actual, scores)
        metrics["r2"] = float(r2_score(actual, scores)) if np.ptp(actual) > 0 else None
        metrics["calibration_ratio"] = float(scores.sum() / total) if total > 0 else None
    return metrics


def revenue_deciles(actual: np.ndarray, scores: np.ndarray) -> list[dict]:
    """Deciles by score (1 = best; ties keep row order; sizes differ by at most one row):
    rows, buyers, mean score, mean actual, the decile's revenue and its share of the total,
    and the cumulative share."""
    actual = np.asarray(actual, dtype=float)
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="stable")
    total = actual.sum()
    rows, cumulative = [], 0.0
    for decile, members in enumerate(np.array_split(order, 10), start=1):
        if not len(members):
            continue
        revenue = float(actual[members].sum())
        cumulative += revenue
        rows.append(
            {
                "decile": decile,
                "rows": len(members),
                "buyers": int((actual[members] > 0).sum()),
                "mean_score": float(scores[members].mean()),
                "mean_actual": float(actual[members].mean()),
                "revenue": revenue,
                "revenue_share": revenue / total if total > 0 else None,
                "cumulative_share": cumulative / total if total > 0 else None,
            }
        )
    return rows


def top_shares(actual: np.ndarray, scores: np.ndarray) -> list[dict]:
    """The share of revenue captured when the best-scored k% are contacted, for TOP_SHARES."""
    return [
        {"percent": k, "revenue_share": revenue_share_at(actual, scores, k / 100)}
        for k in TOP_SHARES
    ]


def gains_points(actual: np.ndarray, scores: np.ndarray) -> list[list[float]]:
    """The revenue gains curve thinned for plotting."""
    shares, captured = revenue_gains(actual, scores)
    return _thin(np.column_stack([shares, captured])) if len(shares) else []


def regression_segment_metrics(rows: pd.DataFrame, scores: np.ndarray) -> list[dict]:
    """The chosen model's metrics within each segment the rows carry."""
    actual = rows["label"].astype(float).to_numpy()
    result = []
    for key, label, column, value in SEGMENTS:
        if column not in rows:
            continue
        members = (rows[column] == value).fillna(False).to_numpy(dtype=bool)
        if not members.any():
            continue
        metrics = regression_metrics(actual[members], scores[members], is_amount=True)
        result.append({"segment": key, "label": label, **metrics})
    return result


def _difference(model: float | None, other: float | None) -> float | None:
    return model - other if model is not None and other is not None else None


def model_beats(model: Mapping, other: Mapping, other_is_amount: bool) -> bool:
    """The model beats a scorer when it ranks revenue better (higher normalised Gini) and, if
    the scorer predicts amounts too, also predicts them better (lower RMSE)."""
    if model["gini"] is None or other["gini"] is None or model["gini"] <= other["gini"]:
        return False
    if not other_is_amount:
        return True
    return other["rmse"] is None or (model["rmse"] is not None and model["rmse"] < other["rmse"])


def summarise_regression_evaluation(
    folds: Sequence,
    *,
    chosen: str,
    mean_fold_deviance: Mapping[str, float | None],
    importance: list[dict],
    horizon_days: int,
) -> dict:
    """Everything the registry keeps of a regression model's evaluation, JSON-ready.

    `folds` are backtest folds (propensity.backtest.Fold), oldest first; pooled metrics are
    computed over every fold's test rows together.
    """
    candidates = set(folds[-1].fitted)
    amounts = set(folds[-1].amounts)
    scorers = list(folds[-1].scores)
    fold_rows = []
    for fold in folds:
        actual = fold.test_rows["label"].to_numpy(dtype=float)
        fold_rows.append(
            {
                "fold": fold.number,
                "test_snapshot": fold.test_snapshot.isoformat(),
                "train_snapshot_start": fold.train_snapshot_start.isoformat(),
                "train_snapshot_end": fold.train_snapshot_end.isoformat(),
                "train_rows": fold.train_rows,
                "train_buyers": fold.train_positives,
                "metrics": {
                    name: regression_metrics(actual, scores, is_amount=name in amounts)
                    for name, scores in fold.scores.items()
                },
                "deciles": {
                    name: revenue_deciles(actual, scores) for name, scores in fold.scores.items()
                },
            }
        )
    actual = np.concatenate([fold.test_rows["label"].to_numpy(dtype=float) for fold in folds])
    pooled = {name: np.concatenate([fold.scores[name] for fold in folds]) for name in scorers}
    overall = {
        name: regression_metrics(actual, scores, is_amount=name in amounts)
        for name, scores in pooled.items()
    }
    model = overall[chosen]
    comparison = []
    for name in scorers:
        if name == chosen:
            continue
        compared = [m for m in REGRESSION_COMPARED if name in amounts or m not in AMOUNT_METRICS]
        comparison.append(
            {
                "scorer": name,
                "is_amount": name in amounts,
                **{
                    metric: {
                        "model": model[metric],
                        "scorer": overall[name][metric],
                        "difference": _difference(model[metric], overall[name][metric]),
                    }
                    for metric in compared
                },
                "model_beats_it": model_beats(model, overall[name], name in amounts),
            }
        )
    rows = pd.concat([fold.test_rows for fold in folds], ignore_index=True)
    return {
        "objective": "regression",
        "horizon_days": horizon_days,
        "chosen": chosen,
        "candidates": sorted(candidates),
        "baselines": [name for name in scorers if name not in candidates],
        "amount_scorers": sorted(amounts),
        # Folds trained only on rows whose label window closed by their test snapshot.
        "purged_folds": bool(folds[-1].is_purged),
        "selection": {
            "criterion": "lowest mean out-of-time Poisson deviance",
            "metric": SELECTION_METRIC,
            "mean_fold": dict(mean_fold_deviance),
        },
        "folds": fold_rows,
        "overall": overall,
        "comparison": comparison,
        "deciles": {name: revenue_deciles(actual, scores) for name, scores in pooled.items()},
        "top_shares": {name: top_shares(actual, scores) for name, scores in pooled.items()},
        "curves": {name: {"revenue_gains": gains_points(actual, s)} for name, s in pooled.items()},
        "perfect_gains": gains_points(actual, actual),
        "segments": regression_segment_metrics(rows, pooled[chosen]),
        "importance": importance,
    }
