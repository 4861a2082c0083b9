"""Uplift metrics: hand-computed tiny examples, ties, random rankings average 0, the true
uplift ranks best, and monotone transforms of the score change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from propensity.uplift_metrics import (
    UpliftMetricError,
    auuc,
    perfect_qini_score,
    qini_coefficient,
    qini_curve,
    uplift_at,
    uplift_curve,
    uplift_summary,
)

# Four rows, already in score order: treated converter, control non-converter, treated
# non-converter, control converter.
SCORE = np.array([4.0, 3.0, 2.0, 1.0])
TREATMENT = np.array([1, 0, 1, 0])
OUTCOME = np.array([1, 0, 0, 1])


def known_effect_experiment(rows: int, seed: int) -> dict[str, np.ndarray]:
    """A randomised experiment with a planted per-row uplift between -0.1 and +0.3."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, rows)
    p_control = 0.1 + 0.1 * (x + 1) / 2
    true_uplift = 0.1 + 0.2 * x
    treatment = (rng.random(rows) < 0.5).astype(int)
    p = np.clip(p_control + treatment * true_uplift, 0, 1)
    outcome = (rng.random(rows) < p).astype(int)
    return {
        "x": x,
        "p_control": p_control,
        "true_uplift": true_uplift,
        "treatment": treatment,
        "outcome": outcome,
    }


def test_hand_computed_qini_curve_and_coefficient() -> None:
    share, values = qini_curve(SCORE, TREATMENT, OUTCOME)
    # Q(k) = Y_t - Y_c * N_t / N_c: 1, 1 (N_c = 1, Y_c = 0), 1, 1 - 1 * 2 / 2 = 0; over N = 4.
    np.testing.assert_allclose(share, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(values, [0, 0.25, 0.25, 0.25, 0])
    # The random line ends at Q(N) = 0: the area is the curve's, trapezoids of width 1/4.
    assert qini_coefficient(SCORE, TREATMENT, OUTCOME) == pytest.approx(0.1875)


def test_hand_computed_uplift_curve_auuc_and_uplift_at() -> None:
    _, values = uplift_curve(SCORE, TREATMENT, OUTCOME)
    # (rate_t - rate_c) * k / N: (1 - 0) * 1/4, (1 - 0) * 2/4, (1/2 - 0) * 3/4, (1/2 - 1/2) * 1.
    np.testing.assert_allclose(values, [0, 0.25, 0.5, 0.375, 0])
    assert auuc(SCORE, TREATMENT, OUTCOME) == pytest.approx(0.28125)
    assert uplift_at(SCORE, TREATMENT, OUTCOME, 0.5) == pytest.approx(1.0)
    assert uplift_at(SCORE, TREATMENT, OUTCOME, 1.0) == pytest.approx(0.0)
    # The top quarter holds no control row: the difference of rates is undefined.
    assert np.isnan(uplift_at(SCORE, TREATMENT, OUTCOME, 0.25))
    # 37.5%: half of row 2 is targeted, so N_c = 0.5 and Y_c = 0: still 1 - 0.
    assert uplift_at(SCORE, TREATMENT, OUTCOME, 0.375) == pytest.approx(1.0)


def test_ties_are_one_block_whatever_the_input_order() -> None:
    score = np.array([1.0, 1.0, 0.0, 0.0])
    share, values = qini_curve(score, TREATMENT, OUTCOME)
    np.testing.assert_allclose(share, [0, 0.5, 1])
    np.testing.assert_allclose(values, [0, 0.25, 0])
    assert qini_coefficient(score, TREATMENT, OUTCOME) == pytest.approx(0.125)
    swapped = [1, 0, 3, 2]  # swap the rows within each tied block
    assert qini_coefficient(score[swapped], TREATMENT[swapped], OUTCOME[swapped]) == (
        pytest.approx(0.125)
    )
    # A constant score is the random line itself.
    assert qini_coefficient(np.zeros(4), TREATMENT, OUTCOME) == 0.0
    assert auuc(np.zeros(4), TREATMENT, OUTCOME) == 0.0


def test_random_rankings_average_zero() -> None:
    data = known_effect_experiment(4000, seed=3)
    rng = np.random.default_rng(5)
    qinis, auucs = [], []
    for _ in range(200):
        score = rng.random(len(data["x"]))
        qinis.append(qini_coefficient(score, data["treatment"], data["outcome"]))
        auucs.append(auuc(score, data["treatment"], data["outcome"]))
    oracle = qini_coefficient(data["true_uplift"], data["treatment"], data["outcome"])
    for values in (np.array(qinis), np.array(auucs)):
        standard_error = values.std(ddof=1) / np.sqrt(len(values))
        assert abs(values.mean()) < 3 * standard_error
        assert abs(values.mean()) < 0.05 * oracle


def test_the_true_uplift_ranks_best_and_normalisation() -> None:
    data = known_effect_experiment(20000, seed=8)
    treatment, outcome = data["treatment"], data["outcome"]
    rankings = {
        "true_uplift": data["true_uplift"],
        "noisy_uplift": data["true_uplift"] + np.random.default_rng(1).normal(0, 0.2, 20000),
        "reversed": -data["true_uplift"],
    }
    qini = {name: qini_coefficient(score, treatment, outcome) for name, score in rankings.items()}
    assert qini["true_uplift"] > qini["noisy_uplift"] > 0
    assert qini["reversed"] < 0
    summary = uplift_summary(
        rankings["noisy_uplift"], treatment, outcome, oracle=data["true_uplift"]
    )
    assert summary["qini"] == pytest.approx(qini["noisy_uplift"])
    assert summary["qini_of_oracle"] == pytest.approx(qini["noisy_uplift"] / qini["true_uplift"])
    assert 0 < summary["qini_of_oracle"] < 1
    # The observed-outcome optimum scores 1 against itself and bounds every ranking.
    perfect = uplift_summary(perfect_qini_score(treatment, outcome), treatment, outcome)
    assert perfect["qini_normalised"] == pytest.approx(1.0)
    assert 0 < summary["qini_normalised"] < 1
    # Uplift at 10%: the top tenth by true uplift has x > 0.8, true uplift > 0.26.
    assert summary["uplift_at_10"] < uplift_at(data["true_uplift"], treatment, outcome, 0.1)
    top = data["true_uplift"] >= np.quantile(data["true_uplift"], 0.9)
    expected = outcome[top & (treatment == 1)].mean() - outcome[top & (treatment == 0)].mean()
    assert uplift_at(data["true_uplift"], treatment, outcome, 0.1) == pytest.approx(
        expected, abs=2e-3
    )
    assert summary["overall_uplift"] == pytest.approx(
        outcome[treatment == 1].mean() - outcome[treatment == 0].mean()
    )


def test_monotone_transforms_change_nothing() -> None:
    data = known_effect_experiment(5000, seed=4)
    score = np.round(data["x"], 2)  # with ties
    base = uplift_summary(score, data["treatment"], data["outcome"])
    for transformed in (3 * score + 7, 1 / (1 + np.exp(-4 * score)), np.exp(score)):
        assert uplift_summary(transformed, data["treatment"], data["outcome"]) == pytest.approx(
            base, nan_ok=True
        )


def test_bad_input_is_refused() -> None:
    with pytest.raises(UpliftMetricError, match="treatment must be 0/1"):
        qini_coefficient([1.0, 2.0], [1, 2], [0, 1])
    with pytest.raises(UpliftMetricError, match="same length"):
        qini_coefficient([1.0], [1, 0], [0, 1])
    with pytest.raises(UpliftMetricError, match="NaN"):
        qini_coefficient([np.nan, 1.0], [1, 0], [0, 1])
