"""Power and sample size of a two-sided test of two proportions (treatment vs control).

The test is the pooled two-proportion z-test the campaign read-outs use. With control rate
p_c, treatment rate p_t, arms of n_c and n_t customers and the pooled rate
p = (n_c p_c + n_t p_t) / (n_c + n_t), the difference d = p_t - p_c has standard error
se0 = sqrt(p (1 - p) (1/n_c + 1/n_t)) under no effect and
se1 = sqrt(p_c (1 - p_c) / n_c + p_t (1 - p_t) / n_t) under the effect, so the power is
Phi((|d| - z se0) / se1) + Phi((-|d| - z se0) / se1), z the 1 - alpha/2 normal quantile
(the second term, a rejection in the wrong direction, is negligible for useful sizes).
Sample sizes solve the first term for the total with the control share held fixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

STANDARD_NORMAL = NormalDist()
SEARCH_STEPS = 200


@dataclass(frozen=True)
class ArmSizes:
    """Customers in the treatment and the control arm."""

    treatment: int
    control: int

    @property
    def total(self) -> int:
        """Both arms together."""
        return self.treatment + self.control


def check_rate(name: str, value: float) -> None:
    """Raise ValueError unless 0 < value < 1."""
    if not 0 < value < 1:
        raise ValueError(f"{name} must be a proportion strictly between 0 and 1, not {value}")


def check_design(alpha: float, control_share: float) -> None:
    """Raise ValueError for an alpha or a control share outside (0, 1)."""
    check_rate("alpha", alpha)
    check_rate("control share", control_share)


def pooled_rate(baseline: float, target: float, sizes: ArmSizes) -> float:
    """The rate of both arms together when control converts at baseline, treatment at target."""
    return (sizes.control * baseline + sizes.treatment * target) / sizes.total


def power_at(baseline: float, target: float, sizes: ArmSizes, *, alpha: float = 0.05) -> float:
    """The power of the two-sided pooled z-test at level alpha for these arm sizes."""
    check_rate("baseline", baseline)
    check_rate("target", target)
    check_rate("alpha", alpha)
    if sizes.treatment < 1 or sizes.control < 1:
        raise ValueError(f"both arms need at least one customer, not {sizes}")
    pooled = pooled_rate(baseline, target, sizes)
    null_error = math.sqrt(pooled * (1 - pooled) * (1 / sizes.control + 1 / sizes.treatment))
    effect_error = math.sqrt(
        baseline * (1 - baseline) / sizes.control + target * (1 - target) / sizes.treatment
    )
    critical = STANDARD_NORMAL.inv_cdf(1 - alpha / 2)
    difference = abs(target - baseline)
    return STANDARD_NORMAL.cdf(
        (difference - critical * null_error) / effect_error
    ) + STANDARD_NORMAL.cdf((-difference - critical * null_error) / effect_error)


def sample_size(
    baseline: float,
    target: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    control_share: float = 0.5,
) -> ArmSizes:
    """The smallest arms (control share held) whose test reaches the power at level alpha.

    The closed form for the total N with control share s, d = target - baseline and the
    pooled rate p = s baseline + (1 - s) target:
    sqrt(N) |d| = z_(1-alpha/2) sqrt(p (1 - p) (1/s + 1/(1-s)))
                  + z_power sqrt(baseline (1 - baseline) / s + target (1 - target) / (1 - s));
    each arm is then rounded up."""
    check_rate("baseline", baseline)
    check_rate("target", target)
    check_rate("power", power)
    check_design(alpha, control_share)
    if baseline == target:
        raise ValueError("baseline and target are equal: no sample size detects no effect")
    treatment_share = 1 - control_share
    pooled = control_share * baseline + treatment_share * target
    null_spread = math.sqrt(pooled * (1 - pooled) * (1 / control_share + 1 / treatment_share))
    effect_spread = math.sqrt(
        baseline * (1 - baseline) / control_share + target * (1 - target) / treatment_share
    )
    root_total = (
        STANDARD_NORMAL.inv_cdf(1 - alpha / 2) * null_spread
        + STANDARD_NORMAL.inv_cdf(power) * effect_spread
    ) / abs(target - baseline)
    total = root_total**2
    return ArmSizes(
        treatment=math.ceil(total * treatment_share),
        control=math.ceil(total * control_share),
    )


def minimum_detectable_effect(
    baseline: float, sizes: ArmSizes, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest rise above baseline (target - baseline) these arms detect with the power.

    Found by bisection on the power (which grows with the rise) between 0 and 1 - baseline;
    raises ValueError when even a target rate of almost 1 is not detected."""
    check_rate("baseline", baseline)
    check_rate("power", power)
    check_rate("alpha", alpha)
    low, high = 0.0, 1 - baseline
    if power_at(baseline, baseline + high * (1 - 1e-9), sizes, alpha=alpha) < power:
        raise ValueError(f"arms of {sizes} cannot reach power {power} above baseline {baseline}")
    for _ in range(SEARCH_STEPS):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if power_at(baseline, baseline + middle, sizes, alpha=alpha) < power:
            low = middle
        else:
            high = middle
    return high


def arms_from_per_arm(per_arm: int, control_share: float) -> ArmSizes:
    """Arms for a size per arm: both arms of per_arm at an even split; otherwise per_arm is
    the larger arm and the smaller one keeps the control share (rounded)."""
    check_rate("control share", control_share)
    if per_arm < 1:
        raise ValueError(f"the size per arm must be at least 1, not {per_arm}")
    if control_share == 0.5:
        return ArmSizes(treatment=per_arm, control=per_arm)
    if control_share < 0.5:
        smaller = round(per_arm * control_share / (1 - control_share))
        return ArmSizes(treatment=per_arm, control=max(smaller, 1))
    smaller = round(per_arm * (1 - control_share) / control_share)
    return ArmSizes(treatment=max(smaller, 1), control=per_arm)


@dataclass(frozen=True)
class PowerSummary:
    """What `propensity power` prints: sizes for the power asked, and power and minimum
    detectable effect at the arms given (if any)."""

    baseline: float
    target: float
    alpha: float
    power: float
    control_share: float
    required: ArmSizes
    given: ArmSizes | None
    power_at_given: float | None
    minimum_detectable_effect_at_given: float | None


def summarise_power(
    baseline: float,
    target: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    control_share: float = 0.5,
    per_arm: int | None = None,
) -> PowerSummary:
    """Sample size for the power asked and, with per_arm, the power and effect at that size."""
    required = sample_size(baseline, target, alpha=alpha, power=power, control_share=control_share)
    given = None if per_arm is None else arms_from_per_arm(per_arm, control_share)
    return PowerSummary(
        baseline=baseline,
        target=target,
        alpha=alpha,
        power=power,
        control_share=control_share,
        required=required,
        given=given,
        power_at_given=None if given is None else power_at(baseline, target, given, alpha=alpha),
        minimum_detectable_effect_at_given=(
            None
            if given is None
            else minimum_detectable_effect(baseline, given, alpha=alpha, power=power)
        ),
    )


def describe_power(summary: PowerSummary) -> str:
    """The summary in plain words, one fact a line."""
    lift = summary.target - summary.baseline
    lines = [
        f"two-sided two-proportion z-test, alpha {summary.alpha:g}, control share "
        f"{summary.control_share:g}: baseline {summary.baseline:.2%} -> target "
        f"{summary.target:.2%} ({lift:+.2%} absolute, {lift / summary.baseline:+.1%} relative)",
        f"for {summary.power:.0%} power: {summary.required.treatment:,} treatment + "
        f"{summary.required.control:,} control = {summary.required.total:,} customers",
    ]
    if summary.given is not None:
        assert summary.power_at_given is not None
        assert summary.minimum_detectable_effect_at_given is not None
        effect = summary.minimum_detectable_effect_at_given
        lines += [
            f"at {summary.given.treatment:,} treatment + {summary.given.control:,} control: "
            f"power {summary.power_at_given:.1%} for the target",
            f"minimum detectable effect at {summary.power:.0%} power: {effect:+.3%} absolute "
            f"(baseline {summary.baseline:.2%} -> {summary.baseline + effect:.3%}, "
            f"{effect / summary.baseline:+.1%} relative)",
        ]
    return "\n".join(lines)
