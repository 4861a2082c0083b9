"""Honest evaluation of scores on labelled rows: ranking, calibration, lift, gains, baselines.

Every function takes labels (0/1) and scores for the same rows and returns plain numbers or
JSON-ready lists, so the registry can store them and the model card can draw them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

TOP_K_PERCENTS = (1, 5, 10, 20, 30, 50)
CURVE_POINTS = 101


def _has_both_classes(labels: np.ndarray) -> bool:
    return len(labels) > 0 and labels.min() != labels.max()


def top_rows(scores: np.ndarray, fraction: float) -> np.ndarray:
    """Indices of the best-scored ceil(fraction x rows) rows; ties keep row order."""
    count = min(len(scores), max(1, math.ceil(fraction * len(scores) - 1e-9)))
    return np.argsort(-scores, kind="stable")[:count]


def precision_recall_at(labels: np.ndarray, scores: np.ndarray, fraction: float) -> dict:
    """Precision, recall and lift when the top `fraction` of rows by score are contacted."""
    top = top_rows(scores, fraction)
    positives = labels.sum()
    base_rate = labels.mean() if len(labels) else 0.0
    precision = float(labels[top].mean())
    return {
        "percent": round(fraction * 100, 6),
        "contacted": len(top),
        "precision": precision,
        "recall": float(labels[top].sum() / positives) if positives else None,
        "lift": precision / base_rate if base_rate else None,
    }


def expected_calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """ECE: the row-weighted mean gap between mean score and realised rate per score bin.

    Bins are equal-width on [0, 1] (the reliability diagram's bins); a score of exactly 1
    falls in the last bin.
    """
    table = reliability_table(labels, scores, bins)
    total = sum(row["rows"] for row in table)
    if not total:
        return 0.0
    return float(
        sum(row["rows"] * abs(row["mean_score"] - row["realised_rate"]) for row in table) / total
    )


def reliability_table(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> list[dict]:
    """Per equal-width score bin: rows, mean score and realised rate (empty bins left out)."""
    index = np.minimum((np.asarray(scores) * bins).astype(int), bins - 1)
    rows = []
    for bin_number in range(bins):
        members = index == bin_number
        if not members.any():
            continue
        rows.append(
            {
                "bin": bin_number + 1,
                "lower": bin_number / bins,
                "upper": (bin_number + 1) / bins,
                "rows": int(members.sum()),
                "mean_score": float(scores[members].mean()),
                "realised_rate": float(labels[members].mean()),
            }
        )
    return rows


def decile_table(labels: np.ndarray, scores: np.ndarray) -> list[dict]:
    """Deciles by score (1 = best): rows, positives, mean score, rate, lift, cumulative gain.

    Rows are ranked by score (ties keep row order) and cut into ten groups whose sizes
    differ by at most one row.
    """
    order = np.argsort(-scores, kind="stable")
    groups = np.array_split(order, 10)
    total_positives = labels.sum()
    base_rate = labels.mean() if len(labels) else 0.0
    rows, cumulative = [], 0
    for decile, members in enumerate(groups, start=1):
        if not len(members):
            continue
        positives = int(labels[members].sum())
        cumulative += positives
        rate = positives / len(members)
        rows.append(
            {
                "decile": decile,
                "rows": len(members),
                "positives": positives,
                "mean_score": float(scores[members].mean()),
                "realised_rate": float(rate),
                "lift": float(rate / base_rate) if base_rate else None,
                "cumulative_gain": float(cumulative / total_positives) if total_positives else None,
            }
        )
    return rows


def score_metrics(labels: np.ndarray, scores: np.ndarray, *, is_probability: bool) -> dict:
    """ROC-AUC, PR-AUC, top-decile lift, precision/recall at the top 10% and 20%; log loss,
    Brier and ECE only for scores that are probabilities (not for ranking rules)."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=float)
    both = _has_both_classes(labels)
    at_10 = precision_recall_at(labels, scores, 0.10)
    at_20 = precision_recall_at(labels, scores, 0.20)
    metrics: dict[str, float | int | None] = {
        "rows": len(labels),
        "positives": int(labels.sum()),
        "base_rate": float(labels.mean()) if len(labels) else None,
        "roc_auc": float(roc_auc_score(labels, scores)) if both else None,
        "pr_auc": float(average_precision_score(labels, scores)) if both else None,
        "lift_top_decile": at_10["lift"],
        "precision_at_10": at_10["precision"],
        "recall_at_10": at_10["recall"],
        "precision_at_20": at_20["precision"],
        "recall_at_20": at_20["recall"],
        "log_loss": None,
        "brier": None,
        "ece": None,
    }
    if is_probability and len(labels):
        clipped = np.clip(scores, 1e-7, 1 - 1e-7)
        metrics["log_loss"] = float(log_loss(labels, clipped, labels=[0, 1]))
        metrics["brier"] = float(brier_score_loss(labels, scores))
        metrics["ece"] = expected_calibration_error(labels, scores)
    return metrics


def _thin(points: np.ndarray, count: int = CURVE_POINTS) -> list[list[float]]:
    """At most `count` points of a curve, evenly spread along it, ends kept."""
    if len(points) <= count:
        chosen = points
    else:
        chosen = points[np.unique(np.linspace(0, len(points) - 1, count).round().astype(int))]
    return [[round(float(x), 6), round(float(y), 6)] for x, y in chosen]


def curves(labels: np.ndarray, scores: np.ndarray) -> dict[str, list[list[float]]]:
    """ROC (fpr, tpr), precision-recall (recall, precision) and gains (share contacted,
    share of positives) curves, thinned for plotting."""
    if not _has_both_classes(labels):
        return {"roc": [], "pr": [], "gains": []}
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    order = np.argsort(-scores, kind="stable")
    captured = np.concatenate([[0], np.cumsum(labels[order])]) / labels.sum()
    contacted = np.arange(len(labels) + 1) / len(labels)
    return {
        "roc": _thin(np.column_stack([fpr, tpr])),
        "pr": _thin(np.column_stack([recall, precision])[::-1]),
        "gains": _thin(np.column_stack([contacted, captured])),
    }


def baseline_scores(
    frame: pd.DataFrame, rules: Mapping[str, Sequence[str]], seed: int
) -> dict[str, np.ndarray]:
    """Scores of the simple rules a model must beat, for the rows of `frame`.

    `random` is a seeded uniform draw. Every other rule averages the percentile ranks of its
    feature columns among the rows (a leading "-" ranks small values first, as for recency;
    a missing value ranks last); a rule whose columns are all missing from the frame is left
    out.
    """
    rng = np.random.default_rng(seed)
    scores = {"random": rng.random(len(frame))}
    for name, columns in rules.items():
        present = [column for column in columns if column.lstrip("-") in frame]
        if not present:
            continue
        total = np.zeros(len(frame))
        for column in present:
            values = frame[column.lstrip("-")].astype("float64")
            if column.startswith("-"):
                values = -values
            total += values.rank(method="average", pct=True).fillna(0.0).to_numpy()
        scores[name] = total / len(present)
    return scores


# Segments of the segment mart a model is checked in; the last two overlap the lifecycle ones.
SEGMENTS: tuple[tuple[str, str, str, object], ...] = (
    ("active", "Active", "lifecycle_segment", "active"),
    ("cooling", "Cooling", "lifecycle_segment", "cooling"),
    ("at_risk", "At-risk", "lifecycle_segment", "at_risk"),
    ("dormant", "Dormant", "lifecycle_segment", "dormant"),
    ("no_purchase", "No purchase", "lifecycle_segment", "no_purchase"),
    ("high_value", "High value", "is_high_value", True),
    ("engagement_driven", "Engagement-driven", "is_engagement_driven", True),
)


def segment_metrics(rows: pd.DataFrame, scores: np.ndarray) -> list[dict]:
    """Metrics of `scores` within each segment the rows carry (segments absent are left out).

    Rank metrics (ROC-AUC, PR-AUC, lift) are within the segment: a model can rank well
    overall, by separating segments, and still rank badly inside one.
    """
    labels = rows["label"].astype(int).to_numpy()
    result = []
    for key, label, column, value in SEGMENTS:
        if column not in rows:
            continue
        members = (rows[column] == value).fillna(False).to_numpy(dtype=bool)
        if not members.any():
            continue
        metrics = score_metrics(labels[members], scores[members], is_probability=True)
        result.append({"segment": key, "label": label, **metrics})
    return result


COMPARED = ("roc_auc", "pr_auc", "lift_top_decile", "precision_at_20", "recall_at_20")


def _calibration_report(labels: np.ndarray, scores: np.ndarray) -> dict:
    metrics = score_metrics(labels, scores, is_probability=True)
    return {
        "ece": metrics["ece"],
        "log_loss": metrics["log_loss"],
        "brier": metrics["brier"],
        "mean_score": float(np.mean(scores)),
        "realised_rate": float(np.mean(labels)),
        "reliability": reliability_table(labels, scores),
    }


def summarise_evaluation(
    folds: Sequence,
    *,
    chosen: str,
    calibration,
    registered_validation: np.ndarray,
    mean_pr_auc: Mapping[str, float],
    importance: list[dict],
) -> dict:
    """Everything the registry keeps of a model's evaluation, JSON-ready.

    `folds` are backtest folds (propensity.backtest.Fold), oldest first; `chosen` names the
    registered family. Pooled metrics are computed over every fold's test rows together.
    """
    candidates = set(folds[-1].fitted)
    scorers = list(folds[-1].scores)
    fold_rows = []
    for fold in folds:
        labels = fold.test_rows["label"].to_numpy()
        fold_rows.append(
            {
                "fold": fold.number,
                "test_snapshot": fold.test_snapshot.isoformat(),
                "train_snapshot_start": fold.train_snapshot_start.isoformat(),
                "train_snapshot_end": fold.train_snapshot_end.isoformat(),
                "train_rows": fold.train_rows,
                "train_positives": fold.train_positives,
                "metrics": {
                    name: score_metrics(labels, scores, is_probability=name in candidates)
                    for name, scores in fold.scores.items()
                },
            }
        )
    labels = np.concatenate([fold.test_rows["label"].to_numpy() for fold in folds])
    pooled = {name: np.concatenate([fold.scores[name] for fold in folds]) for name in scorers}
    overall = {
        name: score_metrics(labels, scores, is_probability=name in candidates)
        for name, scores in pooled.items()
    }
    model = overall[chosen]
    comparison = [
        {
            "scorer": name,
            **{
                metric: {
                    "model": model[metric],
                    "scorer": overall[name][metric],
                    "difference": (
                        model[metric] - overall[name][metric]
                        if model[metric] is not None and overall[name][metric] is not None
                        else None
                    ),
                }
                for metric in COMPARED
            },
            "model_beats_it": bool(
                model["pr_auc"] is not None
                and overall[name]["pr_auc"] is not None
                and model["pr_auc"] > overall[name]["pr_auc"]
            ),
        }
        for name in scorers
        if name != chosen
    ]
    rows = pd.concat([fold.test_rows for fold in folds], ignore_index=True)
    newest_labels = folds[-1].test_rows["label"].to_numpy()
    return {
        "chosen": chosen,
        "candidates": sorted(candidates),
        "baselines": [name for name in scorers if name not in candidates],
        "mean_fold_pr_auc": dict(mean_pr_auc),
        "folds": fold_rows,
        "overall": overall,
        "comparison": comparison,
        "deciles": decile_table(labels, pooled[chosen]),
        "top_k": [precision_recall_at(labels, pooled[chosen], k / 100) for k in TOP_K_PERCENTS],
        "curves": {name: curves(labels, scores) for name, scores in pooled.items()},
        "segments": segment_metrics(rows, pooled[chosen]),
        "calibration": {
            "method": "platt" if calibration is not None else "none",
            "slope": calibration.slope if calibration is not None else None,
            "intercept": calibration.intercept if calibration is not None else None,
            "validation_before": _calibration_report(newest_labels, folds[-1].scores[chosen]),
            "validation_after": _calibration_report(newest_labels, registered_validation),
        },
        "importance": importance,
    }
