"""Uplift metrics of a ranking on randomised campaign history: Qini and uplift curves, the Qini
coefficient, AUUC and uplift at k%, in pure numpy.

Inputs: a score per row (higher = target first), the treatment flag (1 treated, 0 control) and
the 0/1 outcome. Rows are sorted by score, highest first. With k rows targeted, N_t(k), N_c(k)
are the treated and control rows among them and Y_t(k), Y_c(k) their conversions.

* Qini curve: Q(k) = Y_t(k) - Y_c(k) * N_t(k) / N_c(k), the incremental conversions among the
  targeted treated rows (the control term is 0 while N_c(k) = 0).
* Uplift curve: U(k) = (Y_t(k) / N_t(k) - Y_c(k) / N_c(k)) * k, the incremental conversions if
  all k targeted rows were treated (a rate with no rows is 0).
* Both are plotted against the share targeted x = k / N and divided by N (incremental
  conversions per customer of the population), so tables of different sizes compare.
* Qini coefficient and AUUC: the area between the curve and the random-targeting line, the
  straight line from (0, 0) to (1, curve(1)), by the trapezoid rule. A random ranking scores 0
  in expectation; a ranking worse than random scores below 0.
* Normalised: the area divided by the area of a best ranking's curve. For the Qini curve the
  best achievable on observed outcomes (Radcliffe's) ranks treated converters first and control
  converters last; where the true uplift is known (demo data, a planted test table) the oracle
  ranking by true uplift is the best a model could do, and `oracle` in `uplift_summary` uses it.
* Uplift at k%: the treated minus the control conversion rate among the top k% of rows.

Ties: rows with equal scores form one block that is targeted together. The curves are evaluated
at the end of each block and joined by straight lines (so areas are trapezoids over blocks),
and the counts of a share that ends inside a block are interpolated linearly within it (each
tied row counts for the same fraction). So the result does not depend on the input order, and
any strictly increasing transform of the score gives the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_SHARES = (0.1, 0.2, 0.3)


class UpliftMetricError(ValueError):
    """The rows cannot be scored as an experiment."""


@dataclass(frozen=True)
class CumulativeCounts:
    """Treated/control rows and conversions targeted at the end of each block of tied scores,
    with a leading zero row: arrays of length blocks + 1."""

    share: np.ndarray  # rows targeted / all rows
    treated: np.ndarray
    control: np.ndarray
    treated_conversions: np.ndarray
    control_conversions: np.ndarray
    rows: int

    def at(self, share: float) -> tuple[float, float, float, float]:
        """N_t, N_c, Y_t, Y_c when `share` of the rows is targeted (interpolated in a block)."""
        return tuple(  # type: ignore[return-value]
            float(np.interp(share, self.share, values))
            for values in (
                self.treated,
                self.control,
                self.treated_conversions,
                self.control_conversions,
            )
        )


def _arrays(
    score: Sequence[float] | np.ndarray,
    treatment: Sequence[int] | np.ndarray,
    outcome: Sequence[int] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inputs as float64 score and 0/1 integer arrays, checked."""
    scores = np.asarray(score, dtype=np.float64)
    treated = np.asarray(treatment)
    converted = np.asarray(outcome)
    if not len(scores) == len(treated) == len(converted):
        raise UpliftMetricError("score, treatment and outcome must have the same length")
    if len(scores) == 0:
        raise UpliftMetricError("no rows to score")
    if np.isnan(scores).any():
        raise UpliftMetricError(f"{int(np.isnan(scores).sum())} scores are NaN")
    for name, values in (("treatment", treated), ("outcome", converted)):
        if not np.isin(values, (0, 1)).all():
            raise UpliftMetricError(f"{name} must be 0/1")
    return scores, treated.astype(np.int64), converted.astype(np.int64)


def cumulative_counts(
    score: Sequence[float] | np.ndarray,
    treatment: Sequence[int] | np.ndarray,
    outcome: Sequence[int] | np.ndarray,
) -> CumulativeCounts:
    """Cumulative counts by descending score, one point per block of tied scores."""
    scores, treated, converted = _arrays(score, treatment, outcome)
    order = np.argsort(-scores, kind="stable")
    scores, treated, converted = scores[order], treated[order], converted[order]
    # The last row of each block of equal scores.
    ends = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))

    def cumulative(values: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)[ends]])

    return CumulativeCounts(
        share=np.concatenate([[0.0], (ends + 1) / len(scores)]),
        treated=cumulative(treated),
        control=cumulative(1 - treated),
        treated_conversions=cumulative(treated * converted),
        control_conversions=cumulative((1 - treated) * converted),
        rows=len(scores),
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 0.0)


def qini_values(counts: CumulativeCounts) -> np.ndarray:
    """Q(k) / N at each block end: incremental conversions per customer of the population."""
    control_term = counts.control_conversions * _ratio(counts.treated, counts.control)
    return (counts.treated_conversions - control_term) / counts.rows


def uplift_values(counts: CumulativeCounts) -> np.ndarray:
    """U(k) / N at each block end: (treated rate - control rate) among the top k, times k / N."""
    rate_t = _ratio(counts.treated_conversions, counts.treated)
    rate_c = _ratio(counts.control_conversions, counts.control)
    return (rate_t - rate_c) * counts.share


def area_above_random(share: np.ndarray, values: np.ndarray) -> float:
    """The area between a curve through (share, values) and the line from (0, 0) to
    (1, values[-1]), by the trapezoid rule."""
    excess = values - share * values[-1]
    return float(np.sum((excess[1:] + excess[:-1]) / 2 * np.diff(share)))


def qini_curve(
    score: Sequence[float] | np.ndarray,
    treatment: Sequence[int] | np.ndarray,
    outcome: Sequence[int] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The Qini curve: share targeted and Q(k) / N, from (0, 0), one point per tied block."""
    counts = cumulative_counts(score, treatment, outcome)
    return counts.share, qini_values(counts)


def uplift_curve(
    score: Sequence[float] | np.ndarray,
    treatment: Sequence[int] | np.ndarray,
    outcome: Sequence[int] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The uplift curve: share targeted and U(k) / N, from (0, 0), one point per tied block."""
    counts = cumulative_counts(score, treatment, outcome)
    return counts.share, uplift_values(counts)


def qini_coefficient(
    score: Sequence[float] | np.ndarray,
    treatment: Sequence[int] | np.ndarray,
    outcome: Sequence[int] | np.ndarray,
) -> float:
    """The area between the Qini curve and the random-targeting line (random: 0 expected)."""
    counts = cumulative_counts(score, treatment, outcome)
    return area_above_random(counts.share, qini_values(counts))


def auuc(
    score: Sequence[float] | np.ndarray,
    treatment: Sequence[int] | np.ndarray,
    outcome: Sequence[int] | np.ndarray,
) -> float:
    """The area between the uplift curve and the random-targeting line (random: 0 expected)."""
    counts = cumulative_counts(score, treatment, outcome)
    return area_above_random(counts.share, uplift_values(counts))


def uplift_at(
    score: Sequence[float] | np.ndarray,
    treatment: Sequence[int] | np.ndarray,
    outcome: Sequence[int] | np.ndarray,
    share: float,
) -> float:
    """Treated minus control conversion rate among the top `share` of rows (NaN when one arm
    has no rows there)."""
    if not 0 < share <= 1:
        raise UpliftMetricError(f"share must be in (0, 1], not {share}")
    counts = cumulative_counts(score, treatment, outcome)
    treated, control, treated_conversions, control_conversions = counts.at(share)
    if treated <= 0 or control <= 0:
        return float("nan")
    return treated_conversions / treated - control_conversions / control


def perfect_qini_score(
    treatment: Sequence[int] | np.ndarray, outcome: Sequence[int] | np.ndarray
) -> np.ndarray:
    """The best ranking on observed outcomes: treated converters (1), then every
    non-converter (0), then control converters (-1)."""
    treated = np.asarray(treatment, dtype=np.int64)
    converted = np.asarray(outcome, dtype=np.int64)
    return (converted * (2 * treated - 1)).astype(np.float64)


def _normalised(value: float, best: float) -> float:
    """value / best, NaN when the best ranking has no area above random."""
    return value / best if best > 0 else float("nan")


def uplift_summary(
    score: Sequence[float] | np.ndarray,
    treatment: Sequence[int] | np.ndarray,
    outcome: Sequence[int] | np.ndarray,
    *,
    shares: Sequence[float] = DEFAULT_SHARES,
    oracle: Sequence[float] | np.ndarray | None = None,
) -> dict[str, float]:
    """Qini coefficient, AUUC (raw and normalised), uplift at each share and the overall
    difference in conversion rates. `oracle` (the true uplift, where known) adds the areas
    normalised by the oracle ranking's."""
    counts = cumulative_counts(score, treatment, outcome)
    qini = area_above_random(counts.share, qini_values(counts))
    area = area_above_random(counts.share, uplift_values(counts))
    perfect = cumulative_counts(perfect_qini_score(treatment, outcome), treatment, outcome)
    summary = {
        "rows": float(counts.rows),
        "treated_rows": float(counts.treated[-1]),
        "control_rows": float(counts.control[-1]),
        "overall_uplift": float(uplift_values(counts)[-1]),
        "qini": qini,
        "qini_normalised": _normalised(
            qini, area_above_random(perfect.share, qini_values(perfect))
        ),
        "auuc": area,
        "auuc_normalised": _normalised(
            area, area_above_random(perfect.share, uplift_values(perfect))
        ),
    }
    for share in shares:
        summary[f"uplift_at_{round(share * 100)}"] = uplift_at(score, treatment, outcome, share)
    if oracle is not None:
        best = cumulative_counts(oracle, treatment, outcome)
        summary["qini_oracle"] = area_above_random(best.share, qini_values(best))
        summary["qini_of_oracle"] = _normalised(qini, summary["qini_oracle"])
        summary["auuc_oracle"] = area_above_random(best.share, uplift_values(best))
        summary["auuc_of_oracle"] = _normalised(area, summary["auuc_oracle"])
    return summary


def curve_points(
    score: Sequence[float] | np.ndarray,
    treatment: Sequence[int] | np.ndarray,
    outcome: Sequence[int] | np.ndarray,
    points: int = 101,
) -> list[tuple[float, float]]:
    """The Qini curve at `points` evenly spaced shares (for charts): (share, Q / N)."""
    share, values = qini_curve(score, treatment, outcome)
    grid = np.linspace(0.0, 1.0, points)
    return [(float(x), float(y)) for x, y in zip(grid, np.interp(grid, share, values), strict=True)]
