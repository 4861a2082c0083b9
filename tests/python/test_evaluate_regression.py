"""Regression metrics and baseline rules on hand-computed examples: Gini of revenue, revenue
captured by the top customers, Poisson deviance, error metrics, deciles, RFM and run rate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from propensity.evaluate_regression import (
    model_beats,
    normalised_gini,
    regression_metrics,
    revenue_deciles,
    revenue_gains,
    revenue_share_at,
)
from propensity.regression import (
    BaselineRuleError,
    regression_baseline_scores,
    rfm_score,
    rule_of,
    run_rate,
)

ACTUAL = np.array([0.0, 10.0, 0.0, 30.0, 60.0])
PREDICTED = np.array([5.0, 20.0, 1.0, 10.0, 40.0])


def test_gains_gini_and_capture_match_a_hand_computed_example():
    # By prediction: 40 (60), 20 (10), 10 (30), 5 (0), 1 (0) of 100 in all.
    shares, captured = revenue_gains(ACTUAL, PREDICTED)
    np.testing.assert_allclose(shares, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(captured, [0, 0.6, 0.7, 1.0, 1.0, 1.0])
    # Area under the curve 0.2 x (0.3 + 0.65 + 0.85 + 1 + 1) = 0.76: Gini 0.52; the perfect
    # order (60, 30, 10, 0, 0) has area 0.8, Gini 0.6.
    assert normalised_gini(ACTUAL, PREDICTED) == pytest.approx(0.52 / 0.6)
    assert normalised_gini(ACTUAL, ACTUAL) == pytest.approx(1.0)
    # The best 20% is the one customer who spent 60; 10% is half of that customer.
    assert revenue_share_at(ACTUAL, PREDICTED, 0.2) == pytest.approx(0.6)
    assert revenue_share_at(ACTUAL, PREDICTED, 0.1) == pytest.approx(0.3)


def test_error_metrics_and_deviance_match_a_hand_computed_example():
    metrics = regression_metrics(ACTUAL, PREDICTED, is_amount=True)
    # Errors -5, -10, -1, 20, 20.
    assert metrics["rmse"] == pytest.approx(math.sqrt(926 / 5))
    assert metrics["mae"] == pytest.approx(56 / 5)
    assert metrics["r2"] == pytest.approx(1 - 926 / 2600)
    assert metrics["calibration_ratio"] == pytest.approx(76 / 100)
    # 2 x (y log(y / mu) - (y - mu)), a zero actual contributing 2 mu.
    deviance = (
        2 * 5
        + 2 * (10 * math.log(10 / 20) + 10)
        + 2 * 1
        + 2 * (30 * math.log(30 / 10) - 20)
        + 2 * (60 * math.log(60 / 40) - 20)
    ) / 5
    assert deviance == pytest.approx(10.541921, abs=1e-6)
    assert metrics["poisson_deviance"] == pytest.approx(deviance)
    ranks = pd.Series(ACTUAL).rank().corr(pd.Series(PREDICTED).rank())
    assert metrics["spearman"] == pytest.approx(ranks)
    assert metrics["rows"] == 5 and metrics["buyers"] == 3 and metrics["actual_total"] == 100
    # A zero prediction makes the deviance infinite: it is left undefined.
    assert regression_metrics(ACTUAL, PREDICTED - 1, is_amount=True)["poisson_deviance"] is None
    # A ranking rule gets the ranking metrics only.
    rule = regression_metrics(ACTUAL, PREDICTED, is_amount=False)
    assert rule["rmse"] is None and rule["calibration_ratio"] is None
    assert rule["gini"] == metrics["gini"]


def test_tied_scores_share_their_revenue_whatever_the_row_order():
    # Two customers score 2 (revenue 10), three score 1 (revenue 90).
    scores = np.array([2.0, 2.0, 1.0, 1.0, 1.0])
    shares, captured = revenue_gains(ACTUAL, scores)
    np.testing.assert_allclose(shares, [0, 0.4, 1.0])
    np.testing.assert_allclose(captured, [0, 0.1, 1.0])
    assert revenue_share_at(ACTUAL, scores, 0.1) == pytest.approx(0.025)
    # Area 0.02 + 0.33: Gini -0.3 against the perfect 0.6.
    assert normalised_gini(ACTUAL, scores) == pytest.approx(-0.5)
    order = [4, 2, 0, 3, 1]
    assert normalised_gini(ACTUAL[order], scores[order]) == pytest.approx(-0.5)


def test_deciles_hold_mean_prediction_mean_actual_and_revenue_share():
    actual = np.array([0, 0, 0, 0, 10, 0, 20, 0, 30, 40], dtype=float)
    predicted = np.arange(10, dtype=float)  # the last row predicted highest
    deciles = revenue_deciles(actual, predicted)
    assert [row["decile"] for row in deciles] == list(range(1, 11))
    assert [row["mean_actual"] for row in deciles] == actual[::-1].tolist()
    assert [row["mean_score"] for row in deciles] == predicted[::-1].tolist()
    assert deciles[0]["revenue_share"] == pytest.approx(0.4)
    # 40, 30, 0, 20: 90% of the revenue in the first four deciles.
    assert deciles[3]["cumulative_share"] == pytest.approx(0.9)
    assert deciles[-1]["cumulative_share"] == pytest.approx(1.0)


def test_rfm_score_sums_quintiles_with_recent_first_and_never_ordered_last():
    frame = pd.DataFrame(
        {
            "days_since_last_order": [1, 10, 100, 200, 300, None],
            "orders_count": [9, 7, 5, 3, 1, 0],
            "total_spend": [100, 500, 300, 200, 50, 0],
        }
    )
    score = rfm_score(frame, "days_since_last_order", "orders_count", "total_spend")
    # Groups ceil(5 x percentile rank). Recency ranks the 5 customers who ordered (1/5 .. 5/5,
    # fewest days best); the one who never did is in group 1.
    recency = [5, 4, 3, 2, 1, 1]
    # Ranks 6/6 .. 1/6 of 6 rows: ceil(5, 4.17, 3.33, 2.5, 1.67, 0.83).
    frequency = [5, 5, 4, 3, 2, 1]
    monetary = [3, 5, 5, 4, 2, 1]
    expected = [r + f + m for r, f, m in zip(recency, frequency, monetary, strict=True)]
    assert score.tolist() == expected
    assert score.min() >= 3 and score.max() <= 15


def test_run_rate_scales_recent_spend_to_the_horizon_over_the_exposure():
    frame = pd.DataFrame({"spend_3m": [91.3, 100.0, None, 50.0], "tenure_days": [400, 10, 30, 0]})
    rates = run_rate(frame, "spend_3m", 365, amount_days=91.3, exposure="tenure_days")
    # 1 a day for a year; a 10-day customer spent 100 in 10 days; missing spend is 0; a
    # customer of 0 days counts 1 day.
    np.testing.assert_allclose(rates, [365.0, 3650.0, 0.0, 50.0 * 365])
    lifetime = run_rate(frame, "spend_3m", 90, exposure="tenure_days")
    np.testing.assert_allclose(lifetime, [91.3 / 400 * 90, 100 / 10 * 90, 0.0, 50.0 * 90])
    with pytest.raises(BaselineRuleError, match="amount_days, exposure or both"):
        run_rate(frame, "spend_3m", 90)


def test_baseline_declarations_old_and_new_forms():
    assert rule_of("recency", ["-days_since_last_order"]) == {
        "rule": "rank_average",
        "columns": ["-days_since_last_order"],
    }
    with pytest.raises(BaselineRuleError, match="not one of"):
        rule_of("odd", {"rule": "magic"})
    frame = pd.DataFrame(
        {
            "days_since_last_order": [5.0, 50.0],
            "orders_count": [3, 1],
            "total_spend": [300.0, 10.0],
            "spend_3m": [91.3, 0.0],
            "tenure_days": [700, 700],
        }
    )
    rules = {
        "recency": ["-days_since_last_order"],
        "rfm": {
            "rule": "rfm",
            "recency": "days_since_last_order",
            "frequency": "orders_count",
            "monetary": "total_spend",
        },
        "run_rate": {"rule": "run_rate", "amount": "spend_3m", "amount_days": 91.3},
        "absent": {"rule": "run_rate", "amount": "spend_12m", "amount_days": 365},
    }
    scores, amounts = regression_baseline_scores(frame, rules, horizon_days=90)
    assert sorted(scores) == ["recency", "rfm", "run_rate"]
    assert amounts == {"run_rate"}
    np.testing.assert_allclose(scores["run_rate"], [90.0, 0.0])
    assert scores["rfm"][0] > scores["rfm"][1]
    assert scores["recency"].tolist() == [1.0, 0.5]


def test_the_model_beats_a_scorer_on_ranking_and_on_amounts():
    model = {"gini": 0.6, "rmse": 100.0}
    assert model_beats(model, {"gini": 0.5, "rmse": None}, other_is_amount=False)
    assert model_beats(model, {"gini": 0.5, "rmse": 120.0}, other_is_amount=True)
    assert not model_beats(model, {"gini": 0.5, "rmse": 90.0}, other_is_amount=True)
    assert not model_beats(model, {"gini": 0.7, "rmse": 120.0}, other_is_amount=True)
