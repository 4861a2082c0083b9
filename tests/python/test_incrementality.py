"""Incrementality: campaign_incrementality recomputed in pandas and scipy from the session
build's campaign_readouts, the audiences' expected incremental profit recomputed from it, and
the decisions export carrying it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from propensity.export import export_decisions

TOLERANCE = 1e-9
DEFAULT_SHARE = 0.25  # the var decision_default_incremental_share
Z = norm.ppf(0.975)


def _pooled_share(campaign: pd.Series, readouts: pd.DataFrame) -> dict[str, object]:
    """The pooled read-out estimate of one campaign's incremental share, unclipped."""
    trusted = readouts[
        (readouts["task"] == campaign["task"])
        & (readouts["readout_metric"] == campaign["readout_metric"])
        & (readouts["pending_exposures_count"] == 0)
        & ~readouts["has_sample_ratio_mismatch"]
        & (readouts["treatment_customers"] > 0)
        & (readouts["control_customers"] > 0)
        & (readouts["absolute_lift_ci_upper"] > readouts["absolute_lift_ci_lower"])
    ]
    if trusted.empty:
        return {}
    standard_errors = (trusted["absolute_lift_ci_upper"] - trusted["absolute_lift_ci_lower"]) / (
        2 * Z
    )
    weights = 1 / standard_errors**2
    lift = float((weights * trusted["absolute_lift"]).sum() / weights.sum())
    lift_error = float(np.sqrt(1 / weights.sum()))
    treated = trusted["treatment_customers"]
    controls = trusted["control_customers"]
    treatment_rate = (trusted["treatment_conversion_rate"] * treated).sum() / treated.sum()
    control_rate = (trusted["control_conversion_rate"] * controls).sum() / controls.sum()
    # the caused conversions over the treated ones; for churn, the prevented cancellations
    # over those that would have happened (the control rate)
    scale = -1 / control_rate if campaign["readout_metric"] == "churn" else 1 / treatment_rate
    bounds = sorted([(lift - Z * lift_error) * scale, (lift + Z * lift_error) * scale])
    return {
        "share": lift * scale,
        "low": bounds[0],
        "high": bounds[1],
        "ids": ",".join(sorted(trusted["campaign_id"])),
        "p_value": 2 * norm.sf(abs(lift / lift_error)),
    }


@pytest.fixture(scope="module")
def incrementality(built, dbt) -> pd.DataFrame:
    """decisions.campaign_incrementality beside the pandas recomputation (suffix _want)."""
    campaigns = dbt.query(
        built.warehouse,
        "select campaigns.*, tasks.objective from config.campaigns as campaigns "
        "left join ml.ml_tasks as tasks using (task) where campaigns.is_active",
    )
    readouts = dbt.query(built.warehouse, "select * from experiments.campaign_readouts")
    wanted = []
    for campaign in campaigns.to_dict("records"):
        pooled = _pooled_share(pd.Series(campaign), readouts)
        if campaign["objective"] == "uplift":
            source, share = "uplift_model", 1.0
            pooled = {}
        elif pooled:
            source, share = "readouts", min(1.0, max(0.0, pooled["share"]))
        else:
            source, share = "assumed", DEFAULT_SHARE
        wanted.append(
            {
                "campaign_id": campaign["campaign_id"],
                "source_want": source,
                "share_want": share,
                "unclipped_want": pooled.get("share", np.nan),
                "low_want": min(1.0, max(0.0, pooled.get("low", np.nan))) if pooled else np.nan,
                "high_want": min(1.0, max(0.0, pooled.get("high", np.nan))) if pooled else np.nan,
                "ids_want": pooled.get("ids"),
                "p_value_want": pooled.get("p_value", np.nan),
            }
        )
    got = dbt.query(built.warehouse, "select * from decisions.campaign_incrementality")
    merged = got.merge(pd.DataFrame(wanted), on="campaign_id", how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[["campaign_id", "_merge"]]
    return merged


def test_every_share_and_source_is_the_recomputed_one(incrementality):
    rows = incrementality
    assert (rows["incrementality_source"] == rows["source_want"]).all()
    assert np.allclose(rows["incremental_share"], rows["share_want"], atol=TOLERANCE)
    for got, want in [
        ("unclipped_incremental_share", "unclipped_want"),
        ("incremental_share_low", "low_want"),
        ("incremental_share_high", "high_want"),
        ("pooled_p_value", "p_value_want"),
    ]:
        assert np.allclose(rows[got], rows[want], atol=TOLERANCE, equal_nan=True), got
    assert (rows["readout_campaign_ids"].fillna("") == rows["ids_want"].fillna("")).all()
    assert (rows["is_significant"] == (rows["p_value_want"] < 0.05)).all()
    assert rows["incremental_share"].between(0, 1).all()


def test_the_demo_campaigns_get_each_source(incrementality):
    """The 2k demo: up-sell and churn campaigns learn from their past tests, cross-sell has
    none (assumed), the persuadables campaign's uplift model is incremental by itself."""
    by_campaign = incrementality.set_index("campaign_id")
    assert by_campaign.loc["upsell_persuadables_dec", "incrementality_source"] == "uplift_model"
    assert by_campaign.loc["upsell_persuadables_dec", "incremental_share"] == 1.0
    assert by_campaign.loc["cross_sell_addon_nov", "incrementality_source"] == "assumed"
    assert by_campaign.loc["cross_sell_addon_nov", "incremental_share"] == DEFAULT_SHARE
    for campaign in ["upsell_upgrade_nov", "upsell_pro_trial_nov", "upsell_rep_call_nov"]:
        assert by_campaign.loc[campaign, "incrementality_source"] == "readouts"
        assert by_campaign.loc[campaign, "readout_campaign_ids"] == (
            "upsell_upgrade_pilot,upsell_upgrade_rollout"
        )
        assert 0 < by_campaign.loc[campaign, "incremental_share"] < 1
    assert by_campaign.loc["retention_watchlist_nov", "readout_campaign_ids"] == (
        "retention_save_test"
    )


def test_audiences_expected_incremental_profit_is_recomputed(built, dbt, incrementality):
    audiences = dbt.query(
        built.warehouse,
        "select audiences.*, campaigns.margin_rate, campaigns.cost_per_contact "
        "from audiences.campaign_audiences as audiences "
        "inner join config.campaigns as campaigns using (campaign_id)",
    ).merge(incrementality[["campaign_id", "share_want", "source_want"]], on="campaign_id")
    want = (
        audiences["score"]
        * audiences["share_want"]
        * audiences["conversion_value"]
        * audiences["margin_rate"]
        - audiences["cost_per_contact"]
    )
    assert np.allclose(audiences["expected_incremental_profit"], want, atol=TOLERANCE)
    assert (audiences["incrementality_source"] == audiences["source_want"]).all()
    uplift = audiences["is_incremental_profit"]
    assert uplift.any()
    assert np.allclose(
        audiences.loc[uplift, "expected_incremental_profit"],
        audiences.loc[uplift, "expected_profit"],
        atol=TOLERANCE,
    )
    # a propensity campaign's gross profit counts conversions it does not cause
    assert (
        audiences.loc[~uplift & (audiences["share_want"] < 1), "expected_incremental_profit"]
        < audiences.loc[~uplift & (audiences["share_want"] < 1), "expected_profit"]
    ).all()


def test_gross_positive_but_incrementally_unprofitable_rows_are_never_chosen(built, dbt):
    candidates = dbt.query(
        built.warehouse,
        "select candidate_status, expected_profit, expected_incremental_profit "
        "from decisions.decision_candidates "
        "where experiment_group = 'treatment' "
        "and next_best_action not in ('no_contact', 'no_rule_matched')",
    )
    caught = candidates[
        (candidates["expected_profit"] > 0) & (candidates["expected_incremental_profit"] <= 0)
    ]
    assert len(caught) > 0
    assert (caught["candidate_status"] == "not_profitable").all()


def test_decisions_export_carries_the_incremental_profit(built, dbt, tmp_path):
    out = tmp_path / "decisions.parquet"
    export_decisions(built.warehouse, "parquet", out)
    exported = pd.read_parquet(out)
    decisions = dbt.query(built.warehouse, "select * from decisions.next_best_actions")
    merged = exported.merge(decisions, on="decision_id", suffixes=("", "_decided"))
    assert len(merged) == len(decisions) == len(exported)
    assert np.allclose(
        merged["expected_incremental_profit"],
        merged["expected_incremental_profit_decided"].round(2),
        atol=TOLERANCE,
    )
    assert np.allclose(
        merged["incremental_share"], merged["incremental_share_decided"].round(4), atol=TOLERANCE
    )
    assert (merged["incrementality_source"] == merged["incrementality_source_decided"]).all()
    assert set(merged["incrementality_source"]) <= {"uplift_model", "readouts", "assumed"}
