"""Evaluation metrics on hand-computed examples: ECE, lift, deciles, baselines, segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from propensity.evaluate import (
    baseline_scores,
    decile_table,
    expected_calibration_error,
    precision_recall_at,
    reliability_table,
    score_metrics,
    segment_metrics,
)


def test_metrics_match_a_hand_computed_example():
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    metrics = score_metrics(labels, scores, is_probability=True)
    # 3 of the 4 positive/negative pairs are ordered right.
    assert metrics["roc_auc"] == pytest.approx(0.75)
    # Precision 1 at recall 0.5, then 2/3 at recall 1: (1 + 2/3) / 2.
    assert metrics["pr_auc"] == pytest.approx(5 / 6)
    assert metrics["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert metrics["base_rate"] == 0.5
    # The top 10% of 4 rows is the single best score, a positive: precision 1, lift 1 / 0.5.
    assert metrics["lift_top_decile"] == 2.0
    # Each score sits alone in its bin: gaps 0.1, 0.4, 0.65, 0.2.
    assert metrics["ece"] == pytest.approx((0.1 + 0.4 + 0.65 + 0.2) / 4)
    rules = score_metrics(labels, scores, is_probability=False)
    assert rules["log_loss"] is None and rules["ece"] is None
    assert rules["roc_auc"] == metrics["roc_auc"]


def test_expected_calibration_error_weights_bins_by_rows():
    # Bin [0.1, 0.2): 3 rows, mean score 0.15, realised 1/3; bin [0.9, 1]: 1 row, 1.0 vs 1.
    labels = np.array([1, 0, 0, 1])
    scores = np.array([0.12, 0.15, 0.18, 1.0])
    table = reliability_table(labels, scores)
    assert [row["bin"] for row in table] == [2, 10]
    assert table[0]["rows"] == 3 and table[0]["realised_rate"] == pytest.approx(1 / 3)
    assert expected_calibration_error(labels, scores) == pytest.approx(
        3 / 4 * abs(0.15 - 1 / 3) + 1 / 4 * 0.0
    )
    # Perfectly calibrated bins have no error.
    assert expected_calibration_error(np.array([0, 1]), np.array([0.55, 0.55])) == pytest.approx(
        0.05
    )


def test_lift_and_cumulative_gains_by_decile():
    # 20 rows, best first; positives at ranks 1, 2, 5 and 20: base rate 0.2.
    scores = np.linspace(1.0, 0.05, 20)
    labels = np.zeros(20, dtype=int)
    labels[[0, 1, 4, 19]] = 1
    deciles = decile_table(labels, scores)
    assert [row["rows"] for row in deciles] == [2] * 10
    assert deciles[0]["positives"] == 2 and deciles[0]["lift"] == pytest.approx(1.0 / 0.2)
    assert deciles[2]["positives"] == 1 and deciles[2]["cumulative_gain"] == pytest.approx(0.75)
    assert deciles[-1]["cumulative_gain"] == pytest.approx(1.0)
    top = precision_recall_at(labels, scores, 0.25)  # 5 rows, 3 positives
    assert top["contacted"] == 5
    assert top["precision"] == pytest.approx(0.6) and top["recall"] == pytest.approx(0.75)
    assert top["lift"] == pytest.approx(3.0)


def test_baseline_rules_rank_by_percentiles_and_recency_smallest_first():
    frame = pd.DataFrame(
        {
            "sessions": [10.0, 0.0, 5.0, np.nan],
            "clicks": [1.0, 0.0, 9.0, 2.0],
            "days_since_last_order": [3.0, 40.0, np.nan, 1.0],
        }
    )
    scores = baseline_scores(
        frame,
        {"engagement": ["sessions", "clicks"], "recency": ["-days_since_last_order"]},
        seed=1,
    )
    assert list(scores) == ["random", "engagement", "recency"]
    # Percentile ranks: sessions 1, 1/3, 2/3, missing 0; clicks 1/2, 1/4, 1, 3/4.
    np.testing.assert_allclose(
        scores["engagement"], [(1 + 0.5) / 2, (1 / 3 + 0.25) / 2, (2 / 3 + 1) / 2, 0.75 / 2]
    )
    # The most recent order ranks first; no order ranks last.
    assert np.argsort(-scores["recency"]).tolist() == [3, 0, 1, 2]
    again = baseline_scores(frame, {}, seed=1)["random"]
    np.testing.assert_array_equal(again, scores["random"])


def test_segment_metrics_are_within_each_segment():
    rows = pd.DataFrame(
        {
            "label": [1, 0, 1, 0, 0, 1],
            "lifecycle_segment": ["active", "active", "active", "dormant", "dormant", "dormant"],
            "is_high_value": [True, False, False, False, False, True],
        }
    )
    scores = np.array([0.9, 0.2, 0.1, 0.5, 0.4, 0.3])
    segments = {row["segment"]: row for row in segment_metrics(rows, scores)}
    assert set(segments) == {"active", "dormant", "high_value"}
    assert segments["active"]["rows"] == 3 and segments["active"]["positives"] == 2
    assert segments["active"]["roc_auc"] == pytest.approx(0.5)
    assert segments["dormant"]["roc_auc"] == pytest.approx(0.0)
    assert segments["high_value"]["roc_auc"] is None  # one class only
