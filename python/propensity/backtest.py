"""Rolling-origin backtest: for each of the newest labelled snapshots, fit every candidate on
all earlier snapshots and score that snapshot; the scores are out of time by construction.

The newest fold is the registered model's validation: its fitted candidates are the ones
registered. Baseline rules are scored on the same rows, so every comparison is like for like.
A regression task (an amount per row) runs the same folds: candidates predict amounts and the
baselines are the regression rules (propensity.regression). Its label windows are long (90,
365 days) against monthly snapshots, so a fold's earlier snapshots have labels that run into
its test window: a customer's revenue after the test snapshot would be in the training labels,
which flexible models memorise (measured on value_90d: normalised Gini 0.59 with it, 0.53
without). So a regression fold trains only on rows whose label window had closed by its test
snapshot (window_end_column), which is what was known then; when the newest fold has no such
row (a 365-day window on under two years of history), the folds keep every earlier snapshot
and say so (Fold.is_purged false).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from propensity.evaluate import baseline_scores
from propensity.regression import regression_baseline_scores


class BacktestError(ValueError):
    """The labelled rows cannot support a time-based backtest."""


@dataclass
class Fold:
    """One origin: trained on every snapshot before `test_snapshot`, tested on it."""

    number: int
    test_snapshot: date
    train_snapshot_start: date
    train_snapshot_end: date
    train_rows: int
    train_positives: int
    test_rows: pd.DataFrame  # identifiers, label and segments of the test rows
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # scorer -> test-row scores
    fitted: dict[str, Pipeline] = field(default_factory=dict)  # candidate -> fitted pipeline
    # Regression: the scorers whose scores are amounts (the candidates and the amount rules).
    amounts: set[str] = field(default_factory=set)
    # Trained only on rows whose label window closed by the test snapshot.
    is_purged: bool = False


def fold_snapshots(snapshots: Sequence[object], folds: int) -> list[object]:
    """The test snapshots: the newest `folds` labelled snapshots that have an earlier one."""
    ordered = sorted(snapshots)
    if len(ordered) < 2:
        raise BacktestError(
            f"a time-based split needs at least 2 labelled snapshots; found {len(ordered)}"
        )
    return ordered[max(1, len(ordered) - max(1, folds)) :]


def _single_class(labels: np.ndarray) -> bool:
    return len(labels) == 0 or labels.min() == labels.max()


def run_backtest(
    frame: pd.DataFrame,
    *,
    candidates: Mapping[str, Pipeline],
    feature_matrix,
    feature_columns: tuple[str, ...],
    label_column: str,
    snapshot_column: str,
    folds: int,
    baselines: Mapping[str, Sequence[str]],
    keep_columns: Sequence[str],
    seed: int,
    objective: str = "classification",
    horizon_days: int | None = None,
    window_end_column: str | None = None,
) -> list[Fold]:
    """Fit and score every candidate and baseline at each origin (oldest fold first).

    A fold whose training or test rows hold one class (regression: whose training amounts are
    all zero, or which has no test rows) is left out; the newest fold must not be, because it
    validates the model that is registered. Regression run-rate rules scale to horizon_days;
    with window_end_column, regression folds are purged (see the module docstring).
    """
    is_regression = objective == "regression"
    if is_regression and not horizon_days:
        raise BacktestError("a regression backtest needs the label window (horizon_days)")
    labels_all = frame[label_column].astype(float if is_regression else int).to_numpy()
    snapshot_values = frame[snapshot_column].to_numpy()
    test_snapshots = fold_snapshots(frame[snapshot_column].unique(), folds)
    window_ends = (
        frame[window_end_column].to_numpy(dtype="datetime64[ns]")
        if is_regression and window_end_column in frame
        else None
    )
    newest_snapshot = np.datetime64(pd.Timestamp(test_snapshots[-1]), "ns")
    purge = window_ends is not None and bool(
        ((snapshot_values < test_snapshots[-1]) & (window_ends <= newest_snapshot)).any()
    )
    result: list[Fold] = []
    for test_snapshot in test_snapshots:
        is_test = snapshot_values == test_snapshot
        is_train = snapshot_values < test_snapshot
        if purge:
            is_train &= window_ends <= np.datetime64(pd.Timestamp(test_snapshot), "ns")
        y_train, y_test = labels_all[is_train], labels_all[is_test]
        is_newest = test_snapshot == test_snapshots[-1]
        if is_regression:
            if not len(y_test) or not (y_train > 0).any():
                # Also a fold whose purged training rows are none (the oldest folds).
                if is_newest:
                    which = "validation rows are missing" if not len(y_test) else "amounts are 0"
                    raise BacktestError(f"the newest fold's {which}: nothing to learn from")
                continue
        elif _single_class(y_train) or _single_class(y_test):
            if is_newest:
                which = "training" if _single_class(y_train) else "validation"
                raise BacktestError(f"the {which} rows hold only one class")
            continue
        train, test = frame[is_train], frame[is_test]
        train_snapshots = sorted(train[snapshot_column].unique())
        fold = Fold(
            number=len(result) + 1,
            test_snapshot=pd.Timestamp(test_snapshot).date(),
            train_snapshot_start=pd.Timestamp(train_snapshots[0]).date(),
            train_snapshot_end=pd.Timestamp(train_snapshots[-1]).date(),
            train_rows=len(train),
            train_positives=int((y_train > 0).sum()),
            test_rows=test[[c for c in keep_columns if c in test]].assign(label=y_test),
            is_purged=purge,
        )
        x_train = feature_matrix(train, feature_columns)
        x_test = feature_matrix(test, feature_columns)
        for name, template in candidates.items():
            pipeline = clone(template)
            pipeline.fit(x_train, y_train)
            fold.fitted[name] = pipeline
            if is_regression:
                fold.scores[name] = pipeline.predict(x_test)
                fold.amounts.add(name)
            else:
                fold.scores[name] = pipeline.predict_proba(x_test)[:, 1]
        if is_regression:
            rule_scores, amounts = regression_baseline_scores(test, baselines, horizon_days)
            fold.scores.update(rule_scores)
            fold.amounts.update(amounts)
        else:
            fold.scores.update(baseline_scores(test, baselines, seed + fold.number))
        result.append(fold)
    return result
