"""Optional sources: switch them off and the build still works, with fewer features."""

from __future__ import annotations

import json

OPTIONAL_OFF = {
    "sessions": False,
    "email": False,
    "support": False,
    "offers": False,
    "consents": False,
    "contract_exceptions": False,
    "leads": False,
    "experiments": False,
}


def seed_features(dbt, warehouse, switches_on: set[str]) -> list[str]:
    """The task_features seed's up-sell features whose source is required or switched on."""
    rows = dbt.rows(
        warehouse,
        "select feature_name, source_switch from config.task_features where task = 'upsell'",
    )
    return sorted(name for name, switch in rows if switch is None or switch in switches_on)


def test_build_without_the_optional_event_sources(built, dbt, tmp_path):
    warehouse = tmp_path / "lean.duckdb"
    dbt.run(
        ["build"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={
            "model_dir": str(tmp_path / "models"),
            "train_tasks": ["upsell", "upsell_uplift"],
            "enabled_sources": {"subscriptions": True, **OPTIONAL_OFF},
        },
    )
    expected = seed_features(dbt, warehouse, {"subscriptions"})
    all_features = seed_features(dbt, warehouse, {"subscriptions", *OPTIONAL_OFF})
    assert len(expected) < len(all_features)
    task_features = dbt.query(
        warehouse,
        "select feature_name, source_switch, feature_position from ml.ml_task_features "
        "where task = 'upsell' order by feature_position",
    )
    assert sorted(task_features["feature_name"]) == expected
    assert set(task_features["source_switch"].dropna()) == {"subscriptions"}
    assert task_features["feature_position"].tolist() == list(range(1, len(expected) + 1))

    registry = dbt.query(
        warehouse,
        "select model_version, feature_columns from ml.model_registry where task = 'upsell'",
    )
    assert registry["model_version"].tolist() == ["upsell-v1"]
    model_features = json.loads(registry["feature_columns"].iloc[0])
    assert model_features == task_features["feature_name"].tolist()
    assert not set(model_features) & {
        "sessions_count_30d",
        "email_click_rate_30d",
        "product_click_rate",
        "email_open_rate",
        "support_escalations_count_30d",
        "has_upsell_offer_30d",
        "offer_acceptance_rate",
    }
    # The features built from the required sources (orders, items, products) and from
    # subscriptions stay in the model.
    assert {"spend_trend_3m", "discounted_items_share", "upgrades_count"} <= set(model_features)

    # The switched-off sources are empty, yet the same eligible customers are all scored.
    for table in ("sessions", "email_events", "support_tickets", "offers", "consents"):
        assert dbt.scalar(warehouse, f"select count(*) from marts.{table}") == 0, table
    # Leads off: no prospects, no acquisition features; the tables still exist, empty.
    for table in (
        "marts.leads",
        "marts.lead_activities",
        "marts.prospect_feature_snapshots",
        "intermediate.int_acquisition_labels",
    ):
        assert dbt.scalar(warehouse, f"select count(*) from {table}") == 0, table
        assert dbt.scalar(built.warehouse, f"select count(*) from {table}") > 0, table
    assert dbt.rows(
        warehouse,
        "select source_table, raw_rows, quarantined_rows from quarantine.data_quality_summary "
        "where source_table like 'lead%' order by 1",
    ) == [("lead_activities", 0, 0), ("leads", 0, 0)]
    # Experiments off: no campaign history; the mart exists, empty, and nothing is counted.
    assert dbt.scalar(warehouse, "select count(*) from marts.campaign_exposures") == 0
    assert dbt.scalar(built.warehouse, "select count(*) from marts.campaign_exposures") > 1000
    assert dbt.rows(
        warehouse,
        "select raw_rows, clean_rows, quarantined_rows from quarantine.data_quality_summary "
        "where source_table = 'campaign_exposures'",
    ) == [(0, 0, 0)]
    # ... so the uplift task has no experiment rows: it is skipped (asked to train, no version,
    # no scores, no persuadables audience) and the build still passes.
    for table in ("ml.upsell_uplift_training_set", "ml.upsell_uplift_scores"):
        assert dbt.scalar(warehouse, f"select count(*) from {table}") == 0, table
        assert dbt.scalar(built.warehouse, f"select count(*) from {table}") > 300, table
    assert (
        dbt.scalar(
            warehouse, "select count(*) from ml.model_registry where task = ?", ["upsell_uplift"]
        )
        == 0
    )
    assert (
        dbt.scalar(
            warehouse,
            "select count(*) from audiences.campaign_audiences "
            "where campaign_id = 'upsell_persuadables_dec'",
        )
        == 0
    )
    # ... and no read-outs: every propensity campaign's incremental share is the assumed default
    shares = dbt.rows(
        warehouse,
        "select incrementality_source, incremental_share, count(*) "
        "from decisions.campaign_incrementality group by all order by all",
    )
    assert shares == [("assumed", 0.25, 5), ("uplift_model", 1.0, 1)]
    assert (
        dbt.scalar(warehouse, "select count(*) from ml.ml_task_features where task = 'acquisition'")
        == 0
    )
    assert (
        dbt.scalar(
            built.warehouse, "select count(*) from ml.ml_task_features where task = 'acquisition'"
        )
        > 20
    )
    scored = dbt.query(warehouse, "select customer_id, score from ml.upsell_scores")
    full_scored = dbt.query(built.warehouse, "select customer_id from ml.upsell_scores")
    assert sorted(scored["customer_id"]) == sorted(full_scored["customer_id"])
    assert scored["score"].between(0, 1).all()
    assert scored["score"].nunique() > 100
    reasons = dbt.rows(
        warehouse, "select distinct suppression_reason from audiences.campaign_suppressions"
    )
    assert reasons in ([], [("no_email_address",)])
    assert dbt.scalar(warehouse, "select count(*) from audiences.campaign_audiences") > 0


def test_a_partial_enabled_sources_dict_keeps_the_unlisted_sources_features(built, dbt, tmp_path):
    warehouse = tmp_path / "partial.duckdb"
    dbt.run(
        ["build", "--select", "+ml_task_features"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={
            "model_dir": str(tmp_path / "models"),
            "enabled_sources": {"subscriptions": True},
        },
    )
    every_source = {"subscriptions", *OPTIONAL_OFF}
    features = dbt.rows(
        warehouse,
        "select feature_name from ml.ml_task_features where task = 'upsell' order by 1",
    )
    assert [row[0] for row in features] == seed_features(dbt, warehouse, every_source)


def test_build_without_subscriptions_has_no_upsell_population(built, dbt, tmp_path):
    warehouse = tmp_path / "no_subscriptions.duckdb"
    dbt.run(
        ["build"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={
            "model_dir": str(tmp_path / "models"),
            "train_tasks": ["upsell", "value_90d", "value_365d"],
            "enabled_sources": {"subscriptions": False, **OPTIONAL_OFF},
        },
    )
    features = dbt.rows(
        warehouse, "select feature_name from ml.ml_task_features where task = 'upsell' order by 1"
    )
    assert [row[0] for row in features] == seed_features(dbt, warehouse, set())
    for table in (
        "marts.subscriptions",
        "marts.plan_changes",
        "intermediate.int_upsell_labels",
        "ml.upsell_training_set",
        "ml.upsell_scores",
        "audiences.campaign_suppressions",
        "audiences.campaign_audiences",
    ):
        assert dbt.scalar(warehouse, f"select count(*) from {table}") == 0, table
    assert (
        dbt.scalar(warehouse, "select count(*) from ml.model_registry where task = 'upsell'") == 0
    )
    # The value tasks need only the required sources: they train and score without the
    # switched-off sources' features.
    value = dbt.query(
        warehouse, "select task, feature_columns from ml.model_registry where task <> 'upsell'"
    )
    assert sorted(value["task"]) == ["value_365d", "value_90d"]
    for columns in value["feature_columns"]:
        assert {"spend_3m", "total_spend"} <= set(json.loads(columns))
        assert not {"plan_tier_rank", "sessions_count_30d"} & set(json.loads(columns))
    assert dbt.scalar(warehouse, "select count(*) from ml.value_90d_scores") > 0
    # The rest of the warehouse is still built from the required sources.
    assert dbt.scalar(warehouse, "select count(*) from marts.customers") == dbt.scalar(
        built.warehouse, "select count(*) from marts.customers"
    )
    assert dbt.scalar(warehouse, "select count(*) from marts.customer_feature_snapshots") > 0
    assert not (tmp_path / "models" / "upsell").exists()
