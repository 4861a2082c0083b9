"""The task engine on the session build: declared tasks, the churn label, campaign values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

PROJECT = Path(__file__).resolve().parents[2]


def declared_tasks() -> dict[str, dict]:
    return yaml.safe_load((PROJECT / "dbt_project.yml").read_text())["vars"]["tasks"]


def test_ml_tasks_holds_every_declared_task_with_its_defaults(built, dbt):
    tasks = dbt.query(built.warehouse, "select * from ml.ml_tasks").set_index("task")
    declared = declared_tasks()
    assert set(tasks.index) == set(declared)
    for task, settings in declared.items():
        row = tasks.loc[task]
        entity = settings.get("entity", "customer")
        key = "customer_id" if entity == "customer" else "lead_id"
        assert row["entity"] == entity
        assert row["objective"] == settings.get("objective", "classification")
        assert json.loads(row["key_columns"]) == settings.get("key_columns", [key])
        assert row["label_column"] == settings["label_column"]
        assert row["label_window_days"] == settings["label_window_days"]
        assert json.loads(row["baselines"]) == settings.get("baselines", {})
        assert row["training_set_relation"] == f'"ml"."{task}_training_set"'
        # Every declared task was trained by the one build.
        versions = dbt.rows(
            built.warehouse, "select model_version from ml.model_registry where task = ?", [task]
        )
        assert versions == [(f"{task}-v1",)]


def test_churn_labels_recomputed_from_the_clean_tables(built, dbt):
    """Every churn label equals a pandas recomputation: the subscription cancelled in
    [snapshot, +60 days), or no order and no visit in [snapshot, +60 days)."""
    settings = declared_tasks()["churn"]
    window = pd.Timedelta(days=settings["label_window_days"])
    inactivity = pd.Timedelta(days=settings["inactivity_days"])
    labels = dbt.query(
        built.warehouse,
        "select customer_id, snapshot_date, label_window_end_date, is_label_complete, "
        "has_churned from intermediate.int_churn_labels order by customer_id, snapshot_date",
    )
    population = dbt.query(
        built.warehouse,
        "select customer_id, snapshot_date, subscription_id from marts.customer_feature_snapshots "
        "where is_subscription_active order by customer_id, snapshot_date",
    )
    as_of = pd.Timestamp(
        dbt.scalar(built.warehouse, "select max(as_of_date) from intermediate.int_snapshot_dates")
    )
    pd.testing.assert_frame_equal(
        labels[["customer_id", "snapshot_date"]], population[["customer_id", "snapshot_date"]]
    )
    cancelled = dbt.query(
        built.warehouse, "select subscription_id, cancelled_at from marts.subscriptions"
    ).set_index("subscription_id")["cancelled_at"]
    activity = pd.concat(
        [
            dbt.query(
                built.warehouse,
                "select customer_id, ordered_date as day from intermediate.int_orders_enriched",
            ),
            dbt.query(
                built.warehouse,
                "select customer_id, cast(started_at as date) as day from marts.sessions",
            ),
        ]
    )
    activity["day"] = pd.to_datetime(activity["day"])
    days_by_customer = {
        customer: np.sort(group["day"].to_numpy())
        for customer, group in activity.groupby("customer_id")
    }

    start = population["snapshot_date"]
    cancel = population["subscription_id"].map(cancelled)
    cancelled_in_window = (cancel >= start) & (cancel < start + window)
    active = []
    for customer, snapshot in zip(population["customer_id"], start, strict=True):
        days = days_by_customer.get(customer, np.array([], dtype="datetime64[ns]"))
        first = np.searchsorted(days, np.datetime64(snapshot), side="left")
        active.append(first < len(days) and days[first] < np.datetime64(snapshot + inactivity))
    horizon_end = start + max(window, inactivity)
    complete = horizon_end <= as_of
    expected = (cancelled_in_window | ~pd.Series(active, index=population.index)).where(complete)

    assert (labels["label_window_end_date"] == horizon_end).all()
    assert (labels["is_label_complete"] == complete).all()
    assert labels["has_churned"].isna().equals(~complete)
    got = labels.loc[complete, "has_churned"].astype(bool)
    assert (got == expected[complete].astype(bool)).all()
    rate = got.mean()
    print(f"\nchurn labels: {complete.sum()} complete, rate {rate:.3f}")
    assert 0.02 < rate < 0.4
    assert cancelled_in_window[complete].sum() > 0, "some churn is a cancellation"


def test_audience_scores_pass_each_customer_task_through_once(built, dbt):
    for task in ("upsell", "churn"):
        rows = dbt.query(
            built.warehouse,
            "select customer_id, snapshot_date, model_version, score from "
            "audiences.audience_scores where task = ? order by customer_id",
            [task],
        )
        scores = dbt.query(
            built.warehouse,
            "select customer_id, snapshot_date, model_version, score from "
            f"ml.{task}_scores order by customer_id",
        )
        pd.testing.assert_frame_equal(rows, scores)


def test_retention_watchlist_is_ranked_by_expected_value_at_risk(built, dbt):
    audience = dbt.query(
        built.warehouse,
        "select audiences.customer_id, audiences.score, audiences.conversion_value, "
        "audiences.expected_value, audiences.expected_profit, audiences.audience_rank, "
        "audiences.next_best_action, campaigns.margin_rate, campaigns.cost_per_contact "
        "from audiences.campaign_audiences as audiences "
        "inner join config.campaigns as campaigns using (campaign_id) "
        "where campaign_id = 'retention_watchlist_nov' order by audience_rank",
    )
    assert len(audience) > 50
    assert audience["audience_rank"].tolist() == list(range(1, len(audience) + 1))
    np.testing.assert_allclose(
        audience["expected_value"], audience["score"] * audience["conversion_value"], rtol=1e-12
    )
    np.testing.assert_allclose(
        audience["expected_profit"],
        audience["expected_value"] * audience["margin_rate"] - audience["cost_per_contact"],
        rtol=1e-12,
    )
    assert audience["expected_value"].is_monotonic_decreasing
    assert set(audience["next_best_action"]) <= {
        "loyalty_incentive",
        "concierge_onboarding",
        "trial_next_tier",
    }
