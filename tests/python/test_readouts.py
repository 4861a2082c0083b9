"""Campaign read-outs: the statistics macros against scipy, and every read-out figure of the
session build recomputed from the clean marts with pandas and scipy."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2, norm, t

from propensity.demo import describe_warehouse
from propensity.pipeline import PROJECT_DIR, dbt_environment
from propensity.power import ArmSizes, power_at

TOLERANCE = 1e-9
METRIC_COLUMNS = {
    "upgrade": "has_upgraded",
    "churn": "has_churned",
    "order": "has_ordered",
    "refund": "has_refund",
}


def compiled_inline(sql: str, work: Path) -> str:
    """The SQL of a dbt inline query with the project's macros expanded."""
    dbt = Path(sys.executable).with_name("dbt")
    result = subprocess.run(
        [
            str(dbt),
            "compile",
            "--quiet",
            "--output",
            "json",
            "--inline",
            sql,
            "--project-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ],
        cwd=PROJECT_DIR,
        env=dbt_environment(work / "compile.duckdb"),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)["compiled"]


def test_statistics_macros_match_scipy_on_a_grid(tmp_path: Path) -> None:
    sql = compiled_inline(
        "select z, {{ normal_cdf('z') }} as cdf, {{ two_sided_p_value('z') }} as p_value, "
        "{{ chi_square_1_p_value('statistic') }} as chi_square_p_value, "
        "{{ student_t_quantile_975('degrees_of_freedom') }} as t_quantile from grid",
        tmp_path,
    )
    with duckdb.connect() as connection:
        connection.execute(
            "create table grid as select z, z * z as statistic, "
            "30 + (z + 40) * 12 as degrees_of_freedom "
            "from (select cast(step as double) / 1000 as z "
            "from range(-40000, 40001, 7) as steps (step) "
            "union all select z from (values (-37.0), (-7.07106781186547), (0.0), (1e-12), "
            "(7.07106781186547), (37.0), (38.0)) as edges (z))"
        )
        grid = connection.execute(sql).df()
    assert len(grid) > 11_000
    # Phi to 1e-7 absolute as asked; it does 1e-15, and 1e-8 relative in the lower tail.
    assert np.max(np.abs(grid["cdf"] - norm.cdf(grid["z"]))) < 1e-15
    lower = grid[(grid["z"] < 0) & (grid["z"] > -37)]
    assert np.max(np.abs(lower["cdf"] / norm.cdf(lower["z"]) - 1)) < 1e-8
    expected_p = 2 * norm.sf(np.abs(grid["z"]))
    assert np.max(np.abs(grid["p_value"] - expected_p)) < 1e-15
    # Through sqrt(z^2): a few units in the last place.
    assert np.max(np.abs(grid["chi_square_p_value"] - chi2.sf(grid["z"] ** 2, 1))) < 1e-14
    # Cornish-Fisher t quantile from 30 degrees of freedom: relative error below 2e-8.
    exact = t.ppf(0.975, 30 + (grid["z"] + 40) * 12)
    assert np.max(np.abs(grid["t_quantile"] / exact - 1)) < 2e-8


def proportion_test(
    treatment_conversions: int, treatment: int, control_conversions: int, control: int
) -> dict[str, float | None]:
    """The read-out's lift figures, written out again with scipy."""
    treatment_rate = treatment_conversions / treatment
    control_rate = control_conversions / control
    lift = treatment_rate - control_rate
    unpooled = math.sqrt(
        treatment_rate * (1 - treatment_rate) / treatment
        + control_rate * (1 - control_rate) / control
    )
    pooled_rate = (treatment_conversions + control_conversions) / (treatment + control)
    pooled = math.sqrt(pooled_rate * (1 - pooled_rate) * (1 / treatment + 1 / control))
    z = lift / pooled if pooled > 0 else 0.0
    quantile = norm.ppf(0.975)
    figures: dict[str, float | None] = {
        "treatment_rate": treatment_rate,
        "control_rate": control_rate,
        "absolute_lift": lift,
        "absolute_lift_ci_lower": lift - quantile * unpooled,
        "absolute_lift_ci_upper": lift + quantile * unpooled,
        "relative_lift": treatment_rate / control_rate - 1 if control_rate > 0 else None,
        "relative_lift_ci_lower": None,
        "relative_lift_ci_upper": None,
        "z_statistic": z,
        "p_value": 2 * norm.sf(abs(z)),
    }
    if treatment_rate > 0 and control_rate > 0:
        spread = math.sqrt(
            (1 - treatment_rate) / (treatment * treatment_rate)
            + (1 - control_rate) / (control * control_rate)
        )
        log_ratio = math.log(treatment_rate / control_rate)
        figures["relative_lift_ci_lower"] = math.exp(log_ratio - quantile * spread) - 1
        figures["relative_lift_ci_upper"] = math.exp(log_ratio + quantile * spread) - 1
    return figures


def assert_figures(
    row: pd.Series, expected: dict[str, float | None], names: dict[str, str]
) -> None:
    """Each expected figure equals the row's column (named by names, else the same) to 1e-9."""
    for figure, value in expected.items():
        actual = row[names.get(figure, figure)]
        if value is None:
            assert pd.isna(actual), (row["campaign_id"], figure, actual)
        else:
            assert actual == pytest.approx(value, abs=TOLERANCE), (row["campaign_id"], figure)


@pytest.fixture(scope="module")
def marts(built, dbt) -> dict[str, pd.DataFrame]:
    """The clean marts and the read-out tables of the session build."""
    names = {
        "exposures": "marts.campaign_exposures",
        "campaigns": "config.campaigns",
        "snapshots": "intermediate.int_snapshot_dates",
        "subscriptions": "marts.subscriptions",
        "plan_changes": "marts.plan_changes",
        "plan_tiers": "config.plan_tiers",
        "orders": "marts.orders",
        "order_lines": "marts.order_lines",
        "segments": "segments.customer_segments",
        "outcomes": "experiments.campaign_exposure_outcomes",
        "readouts": "experiments.campaign_readouts",
        "readout_segments": "experiments.campaign_readout_segments",
    }
    return {key: dbt.query(built.warehouse, f"select * from {name}") for key, name in names.items()}


def recomputed_outcomes(marts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every exposure's outcomes in its window, from the clean marts with pandas."""
    exposures = marts["exposures"].merge(
        marts["campaigns"][["campaign_id", "readout_metric", "readout_window_days"]],
        on="campaign_id",
        how="left",
    )
    exposures["start"] = pd.to_datetime(exposures["snapshot_date"])
    exposures["end"] = exposures["start"] + pd.to_timedelta(
        exposures["readout_window_days"], unit="D"
    )
    as_of = pd.to_datetime(marts["snapshots"]["as_of_date"]).max()
    exposures["complete"] = exposures["end"] <= as_of

    tiers = marts["plan_tiers"].set_index("plan_code")["tier_rank"]
    changes = marts["plan_changes"].merge(marts["subscriptions"], on="subscription_id")
    upgrades = changes[changes["to_plan"].map(tiers) > changes["from_plan"].map(tiers)][
        ["customer_id", "changed_at"]
    ]
    cancellations = marts["subscriptions"].dropna(subset=["cancelled_at"])[
        ["customer_id", "cancelled_at"]
    ]
    order_values = marts["order_lines"].groupby("order_id")["line_amount"].sum()
    orders = marts["orders"].assign(
        order_value=lambda frame: frame["order_id"].map(order_values).fillna(0.0)
    )

    def in_window(events: pd.DataFrame, at: str) -> pd.DataFrame:
        joined = exposures[["campaign_exposure_id", "customer_id", "start", "end"]].merge(
            events, on="customer_id"
        )
        return joined[(joined[at] >= joined["start"]) & (joined[at] < joined["end"])]

    upgraded = set(in_window(upgrades, "changed_at")["campaign_exposure_id"])
    churned = set(in_window(cancellations, "cancelled_at")["campaign_exposure_id"])
    window_orders = in_window(orders, "ordered_at")
    completed = window_orders[window_orders["order_status"] == "completed"]
    refunded = set(
        window_orders.loc[window_orders["order_status"] == "refunded", "campaign_exposure_id"]
    )
    counts = completed.groupby("campaign_exposure_id")["order_id"].count()
    revenue = completed.groupby("campaign_exposure_id")["order_value"].sum()
    identifiers = exposures["campaign_exposure_id"]
    exposures["has_upgraded"] = identifiers.isin(upgraded)
    exposures["has_churned"] = identifiers.isin(churned)
    exposures["orders_count"] = identifiers.map(counts).fillna(0).astype(int)
    exposures["has_ordered"] = exposures["orders_count"] > 0
    exposures["revenue"] = identifiers.map(revenue).fillna(0.0)
    exposures["has_refund"] = identifiers.isin(refunded)
    return exposures


def test_outcomes_are_recomputed_from_the_clean_marts(marts) -> None:
    expected = recomputed_outcomes(marts).set_index("campaign_exposure_id").sort_index()
    actual = marts["outcomes"].set_index("campaign_exposure_id").sort_index()
    assert list(actual.index) == list(expected.index)
    assert len(actual) > 0
    assert (actual["is_outcome_complete"] == expected["complete"]).all()
    complete = actual[actual["is_outcome_complete"]]
    reference = expected.loc[complete.index]
    for column in ("has_upgraded", "has_churned", "has_ordered", "orders_count", "has_refund"):
        assert (complete[column].astype(int) == reference[column].astype(int)).all(), column
    assert np.allclose(complete["revenue"], reference["revenue"], atol=1e-6)
    converted = complete.apply(lambda row: row[METRIC_COLUMNS[row["readout_metric"]]], axis=1)
    assert (complete["has_converted"] == converted).all()
    pending = actual[~actual["is_outcome_complete"]]
    assert pending[list(METRIC_COLUMNS.values())].isna().all().all()
    # Something happens in the windows: the comparison is not all zeros.
    assert complete["has_upgraded"].sum() > 0 and complete["revenue"].sum() > 0


def welch(treatment: pd.Series, control: pd.Series) -> tuple[float, float, float]:
    """Difference of means, its Welch-Satterthwaite degrees of freedom and scipy's t margin."""
    treatment_error = treatment.var(ddof=1) / len(treatment)
    control_error = control.var(ddof=1) / len(control)
    degrees = (treatment_error + control_error) ** 2 / (
        treatment_error**2 / (len(treatment) - 1) + control_error**2 / (len(control) - 1)
    )
    margin = t.ppf(0.975, degrees) * math.sqrt(treatment_error + control_error)
    return treatment.mean() - control.mean(), degrees, margin


def test_every_readout_figure_is_recomputed_with_scipy(marts) -> None:
    readouts = marts["readouts"].set_index("campaign_id", drop=False)
    outcomes = marts["outcomes"]
    campaigns = marts["campaigns"].set_index("campaign_id")
    assert set(readouts.index) == set(outcomes["campaign_id"])
    read = 0
    for campaign_id, exposures in outcomes.groupby("campaign_id"):
        row = readouts.loc[campaign_id]
        campaign = campaigns.loc[campaign_id]
        control_count = int((~exposures["is_treatment"]).sum())
        total = len(exposures)
        share = campaign["holdout_percent"] / 100
        statistic = (control_count - total * share) ** 2 / (total * share) + (
            total - control_count - total * (1 - share)
        ) ** 2 / (total * (1 - share))
        assert row["exposures_count"] == total
        assert row["pending_exposures_count"] == int((~exposures["is_outcome_complete"]).sum())
        assert row["sample_ratio_chi_square"] == pytest.approx(statistic, abs=TOLERANCE)
        assert row["sample_ratio_p_value"] == pytest.approx(chi2.sf(statistic, 1), abs=TOLERANCE)
        assert row["has_sample_ratio_mismatch"] == (chi2.sf(statistic, 1) < 0.001)

        complete = exposures[exposures["is_outcome_complete"]]
        treated = complete[complete["is_treatment"]]
        controls = complete[~complete["is_treatment"]]
        assert row["treatment_customers"] == len(treated)
        assert row["control_customers"] == len(controls)
        if len(treated) == 0 or len(controls) == 0:
            assert row["verdict"] == "pending: no complete outcomes in both groups"
            continue
        read += 1
        column = METRIC_COLUMNS[campaign["readout_metric"]]
        expected = proportion_test(
            int(treated[column].sum()), len(treated), int(controls[column].sum()), len(controls)
        )
        assert_figures(
            row,
            expected,
            {
                "treatment_rate": "treatment_conversion_rate",
                "control_rate": "control_conversion_rate",
            },
        )
        for guardrail in ("churn", "refund"):
            guard = proportion_test(
                int(treated[METRIC_COLUMNS[guardrail]].sum()),
                len(treated),
                int(controls[METRIC_COLUMNS[guardrail]].sum()),
                len(controls),
            )
            assert row[f"treatment_{guardrail}_rate"] == pytest.approx(guard["treatment_rate"])
            assert row[f"{guardrail}_rate_difference"] == pytest.approx(
                guard["absolute_lift"], abs=TOLERANCE
            )
            assert row[f"{guardrail}_p_value"] == pytest.approx(guard["p_value"], abs=TOLERANCE)

        difference, degrees, margin = welch(treated["revenue"], controls["revenue"])
        assert row["revenue_difference"] == pytest.approx(difference, abs=TOLERANCE)
        assert row["revenue_welch_degrees_of_freedom"] == pytest.approx(degrees, rel=1e-9)
        # The t quantile is a Cornish-Fisher expansion: 2e-8 relative from 30 df, 1e-4 at 5.
        precision = 2e-8 if degrees >= 30 else 2e-4
        for end, sign in (("lower", -1), ("upper", 1)):
            assert row[f"revenue_difference_ci_{end}"] == pytest.approx(
                difference + sign * margin, abs=precision * margin + TOLERANCE
            )
        assert row["treatment_average_order_value"] == pytest.approx(
            treated["revenue"].sum() / treated["orders_count"].sum(), abs=TOLERANCE
        )
    assert read >= 3, "the session build should read out the historical campaigns"


def test_segment_lifts_are_recomputed_with_scipy(marts) -> None:
    outcomes = marts["outcomes"][marts["outcomes"]["is_outcome_complete"]].merge(
        marts["segments"][["customer_id", "snapshot_date", "lifecycle_segment", "is_high_value"]],
        on=["customer_id", "snapshot_date"],
        how="left",
    )
    outcomes["value_segment"] = np.where(
        outcomes["is_high_value"].isna(),
        "unknown",
        np.where(
            outcomes["is_high_value"].fillna(False).astype(bool), "high_value", "not_high_value"
        ),
    )
    outcomes["lifecycle_segment"] = outcomes["lifecycle_segment"].fillna("unknown")
    segments = marts["readout_segments"].set_index(["campaign_id", "segment_type", "segment_value"])
    checked = 0
    for segment_type in ("lifecycle_segment", "value_segment"):
        for (campaign_id, value), members in outcomes.groupby(["campaign_id", segment_type]):
            row = segments.loc[(campaign_id, segment_type, value)]
            column = METRIC_COLUMNS[members["readout_metric"].iloc[0]]
            treated = members[members["is_treatment"]]
            controls = members[~members["is_treatment"]]
            assert row["treatment_customers"] == len(treated)
            assert row["control_customers"] == len(controls)
            if len(treated) == 0 or len(controls) == 0:
                assert pd.isna(row["absolute_lift"])
                continue
            expected = proportion_test(
                int(treated[column].sum()), len(treated), int(controls[column].sum()), len(controls)
            )
            assert_figures(
                row.to_frame().T.assign(campaign_id=campaign_id).iloc[0],
                expected,
                {
                    "treatment_rate": "treatment_conversion_rate",
                    "control_rate": "control_conversion_rate",
                },
            )
            checked += 1
    assert checked >= 6
    assert len(segments) == sum(
        outcomes.groupby(["campaign_id", segment_type]).ngroups
        for segment_type in ("lifecycle_segment", "value_segment")
    )


def test_upsell_lift_agrees_with_the_true_uplift(built, marts) -> None:
    truth = pd.read_parquet(built.truth_dir / "uplift_truth.parquet")
    readouts = marts["readouts"]
    upsell = readouts[(readouts["task"] == "upsell") & (readouts["treatment_customers"] > 0)]
    assert len(upsell) >= 2
    complete = marts["outcomes"][marts["outcomes"]["is_outcome_complete"]]
    for row in upsell.itertuples():
        exposed = complete[complete["campaign_id"] == row.campaign_id].merge(
            truth, on=["campaign_id", "customer_id"]
        )
        assert len(exposed) == row.treatment_customers + row.control_customers
        true_uplift = exposed["true_uplift"].mean()
        assert row.absolute_lift_ci_lower <= true_uplift <= row.absolute_lift_ci_upper, (
            row.campaign_id,
            true_uplift,
            row.absolute_lift_ci_lower,
            row.absolute_lift_ci_upper,
        )


def test_verdicts_follow_the_figures(marts) -> None:
    for row in marts["readouts"].itertuples():
        if row.treatment_customers == 0 or row.control_customers == 0:
            expected = "pending: no complete outcomes in both groups"
        elif row.sample_ratio_p_value < 0.001:
            expected = "sample ratio mismatch: do not trust"
        elif row.is_churn_guardrail_breached or row.is_refund_guardrail_breached:
            expected = "guardrail breached"
        elif row.p_value >= 0.05:
            expected = "no detectable effect"
        elif (row.absolute_lift < 0) == (row.readout_metric == "churn"):
            expected = (
                "significant reduction" if row.readout_metric == "churn" else "significant lift"
            )
        else:
            expected = "significantly worse"
        assert row.verdict == expected, row.campaign_id


def test_campaign_power_is_the_power_calculator_on_the_observed_arms(built, dbt, marts) -> None:
    power = dbt.query(built.warehouse, "select * from experiments.campaign_power")
    readouts = marts["readouts"].set_index("campaign_id")
    eligible = readouts[
        (readouts["treatment_customers"] > 0)
        & (readouts["control_customers"] > 0)
        & (readouts["control_conversion_rate"] > 0)
    ]
    assert set(power["campaign_id"]) == set(eligible.index)
    assert len(power) >= 2
    for row in power.itertuples():
        baseline = eligible.loc[row.campaign_id, "control_conversion_rate"]
        direction = -1 if row.readout_metric == "churn" else 1
        target = baseline * (1 + direction * 0.2)
        sizes = ArmSizes(treatment=row.treatment_customers, control=row.control_customers)
        assert row.target_rate == pytest.approx(target, abs=TOLERANCE)
        assert row.power == pytest.approx(power_at(baseline, target, sizes), abs=TOLERANCE)
        assert row.is_adequately_powered == (row.power >= 0.8)


def test_demo_summary_lists_every_readout_and_the_decisions_per_channel(built, marts) -> None:
    described = describe_warehouse(built.warehouse)
    for row in marts["readouts"].itertuples():
        expected = (
            f"  {row.campaign_id:<24} {row.readout_metric:<8} {row.treatment_customers:>7,} vs "
            f"{row.control_customers:>7,}  {100 * row.absolute_lift:+.2f} pts "
            f"[{100 * row.absolute_lift_ci_lower:+.2f} pts, "
            f"{100 * row.absolute_lift_ci_upper:+.2f} pts]  p {row.p_value:.3g}  {row.verdict}"
        )
        assert expected in described.splitlines()
    decisions = duckdb.connect(str(built.warehouse), read_only=True)
    try:
        per_channel = decisions.execute(
            "select channel, list(expected_incremental_profit) "
            "from decisions.next_best_actions group by all"
        ).fetchall()
        shares = decisions.execute(
            "select campaign_id, incremental_share, incrementality_source "
            "from decisions.campaign_incrementality"
        ).fetchall()
    finally:
        decisions.close()
    assert per_channel
    for channel, profits in per_channel:
        count, profit = f"{len(profits):,}", f"{sum(profits):,.0f}"
        line = rf"^  {channel} +{count} customers  incremental profit +{profit}  owner: "
        assert re.search(line, described, re.MULTILINE)
    assert shares
    for campaign, share, source in shares:
        expected = f"  {campaign:<24} {share:>8.3f} of conversions caused  ({source})"
        assert expected in described.splitlines()
