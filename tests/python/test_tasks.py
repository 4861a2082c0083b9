"""The task engine on the session build: declared tasks, the churn label, campaign values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from propensity.truth import read_truth, truth_file_for, truth_gap

PROJECT = Path(__file__).resolve().parents[2]


def declared_tasks() -> dict[str, dict]:
    return yaml.safe_load((PROJECT / "dbt_project.yml").read_text())["vars"]["tasks"]


def test_ml_tasks_holds_every_declared_task_with_its_defaults(built, dbt):
    tasks = dbt.query(built.warehouse, "select * from ml.ml_tasks").set_index("task")
    declared = declared_tasks()
    assert set(tasks.index) == set(declared)
    for task, settings in declared.items():
        row = tasks.loc[task]
        # An uplift task takes its entity, keys and label from its base task.
        base = declared[settings["base_task"]] if "base_task" in settings else {}
        assert (row["base_task"] if isinstance(row["base_task"], str) else None) == settings.get(
            "base_task"
        )
        own_baselines = settings.get("baselines", {})
        settings = {**base, **settings}
        entity = settings.get("entity", "customer")
        key = "customer_id" if entity == "customer" else "lead_id"
        assert row["entity"] == entity
        assert row["objective"] == settings.get("objective", "classification")
        assert json.loads(row["key_columns"]) == settings.get("key_columns", [key])
        assert row["label_column"] == settings["label_column"]
        assert row["label_window_days"] == settings["label_window_days"]
        assert json.loads(row["baselines"]) == own_baselines
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
    # Ranked by money, the watchlist also holds valuable customers at lower risk: every
    # action is a churn rule's, and the high-risk ones get a retention offer.
    rules = dbt.query(
        built.warehouse,
        "select next_best_action from config.next_best_action_rules where task = 'churn'",
    )
    assert set(audience["next_best_action"]) <= set(rules["next_best_action"])
    assert set(audience["next_best_action"]) & {
        "loyalty_incentive",
        "concierge_onboarding",
        "trial_next_tier",
    }


def test_cross_sell_labels_recomputed_from_the_clean_tables(built, dbt):
    """Population: buyers x categories not bought before the snapshot; label: a product of
    the category ordered in [snapshot, +30 days)."""
    window = pd.Timedelta(days=declared_tasks()["cross_sell"]["label_window_days"])
    labels = dbt.query(
        built.warehouse,
        "select customer_id, snapshot_date, product_category, is_label_complete, "
        "has_bought_category from intermediate.int_cross_sell_labels",
    )
    bought = dbt.query(
        built.warehouse,
        "select order_lines.order_id, orders.customer_id, cast(orders.ordered_at as date) as day, "
        "products.category from marts.order_lines as order_lines "
        "inner join marts.orders as orders using (order_id) "
        "inner join marts.products as products using (product_id) "
        "where order_lines.quantity > 0",
    )
    bought["day"] = pd.to_datetime(bought["day"])
    snapshots = dbt.query(
        built.warehouse, "select snapshot_date, as_of_date from intermediate.int_snapshot_dates"
    )
    categories = sorted(
        dbt.query(built.warehouse, "select distinct category from marts.products")["category"]
    )
    customers = dbt.query(
        built.warehouse, "select distinct customer_id from marts.customer_feature_snapshots"
    )["customer_id"]
    first = bought.groupby(["customer_id", "category"])["day"].min()
    expected_rows = []
    for snapshot in snapshots["snapshot_date"]:
        owned = first[first < snapshot].reset_index()
        buyers = set(owned["customer_id"])
        owned_pairs = set(zip(owned["customer_id"], owned["category"], strict=True))
        in_window = bought[(bought["day"] >= snapshot) & (bought["day"] < snapshot + window)]
        window_pairs = set(zip(in_window["customer_id"], in_window["category"], strict=True))
        for customer in buyers & set(customers):
            for category in categories:
                if (customer, category) not in owned_pairs:
                    expected_rows.append(
                        (customer, snapshot, category, (customer, category) in window_pairs)
                    )
    expected = pd.DataFrame(
        expected_rows, columns=["customer_id", "snapshot_date", "product_category", "bought"]
    )
    merged = labels.merge(
        expected,
        on=["customer_id", "snapshot_date", "product_category"],
        how="outer",
        indicator=True,
        validate="one_to_one",
    )
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    complete = merged[merged["is_label_complete"]]
    assert len(complete) > 10_000
    assert (complete["has_bought_category"].astype(bool) == complete["bought"]).all()
    assert merged.loc[~merged["is_label_complete"], "has_bought_category"].isna().all()
    assert 0.005 < complete["bought"].mean() < 0.2


def test_next_best_product_is_the_likeliest_category_not_owned_and_its_affine_product(built, dbt):
    recommendations = dbt.query(
        built.warehouse, "select * from audiences.next_best_products order by customer_id"
    )
    scores = dbt.query(
        built.warehouse, "select customer_id, product_category, score from ml.cross_sell_scores"
    )
    assert recommendations["customer_id"].is_unique
    assert set(recommendations["customer_id"]) == set(scores["customer_id"])
    best = (
        scores.sort_values(
            ["customer_id", "score", "product_category"], ascending=[True, False, True]
        )
        .groupby("customer_id")
        .head(1)
        .set_index("customer_id")
    )
    got = recommendations.set_index("customer_id")
    assert (got["recommended_category"] == best.loc[got.index, "product_category"]).all()
    np.testing.assert_allclose(got["score"], best.loc[got.index, "score"], rtol=0, atol=0)

    # Never a category the customer bought before the as-of date.
    owned = dbt.query(
        built.warehouse,
        "select customer_id, product_category from intermediate.int_customer_category_snapshots "
        "where owns_category and snapshot_date = (select max(snapshot_date) from "
        "intermediate.int_snapshot_dates)",
    )
    owned_pairs = set(zip(owned["customer_id"], owned["product_category"], strict=True))
    assert not any(
        (customer, category) in owned_pairs
        for customer, category in zip(got.index, got["recommended_category"], strict=True)
    )

    # The product: the category's product with the best basket lift from a product the
    # customer bought; the product's category and price come from the catalogue.
    products = dbt.query(
        built.warehouse, "select product_id, category, list_price from marts.products"
    ).set_index("product_id")
    assert (
        products.loc[got["recommended_product_id"], "category"].to_numpy()
        == got["recommended_category"].to_numpy()
    ).all()
    np.testing.assert_array_equal(
        products.loc[got["recommended_product_id"], "list_price"].to_numpy(),
        got["item_value"].to_numpy(),
    )
    affinity = dbt.query(
        built.warehouse,
        "select antecedent_product_id, consequent_product_id, lift from "
        "affinity.product_pair_affinity",
    )
    history = dbt.query(
        built.warehouse,
        "select distinct customer_id, product_id from intermediate.int_order_products_bought "
        "where ordered_date < (select max(as_of_date) from intermediate.int_snapshot_dates)",
    )
    lifts = history.merge(affinity, left_on="product_id", right_on="antecedent_product_id")
    lifts = lifts.merge(products[["category"]], left_on="consequent_product_id", right_index=True)
    for customer, row in got[got["product_choice"] == "basket_affinity"].head(200).iterrows():
        candidates = lifts[
            (lifts["customer_id"] == customer) & (lifts["category"] == row["recommended_category"])
        ]
        assert row["recommended_product_lift"] == pytest.approx(candidates["lift"].max(), abs=0)
    assert (got["product_choice"] == "basket_affinity").mean() > 0.3


def test_cross_sell_campaign_values_each_contact_at_the_recommended_price(built, dbt):
    audience = dbt.query(
        built.warehouse,
        "select audiences.customer_id, audiences.score, audiences.conversion_value, "
        "audiences.recommended_product_id, audiences.recommended_addon_category, "
        "recommendations.item_value, recommendations.recommended_category "
        "from audiences.campaign_audiences as audiences "
        "inner join audiences.next_best_products as recommendations using (customer_id) "
        "where audiences.campaign_id = 'cross_sell_addon_nov'",
    )
    assert len(audience) > 50
    np.testing.assert_array_equal(audience["conversion_value"], audience["item_value"])
    assert (audience["recommended_addon_category"] == audience["recommended_category"]).all()


def test_acquisition_model_is_measured_against_the_true_conversion_probabilities(built, dbt):
    """The prospect task's out-of-time predictions meet the generator's truth on lead_id."""
    predictions_path = dbt.scalar(
        built.warehouse,
        "select predictions_path from ml.model_registry where model_version = 'acquisition-v1'",
    )
    predictions = pd.read_parquet(predictions_path)
    assert "lead_id" in predictions and "customer_id" not in predictions
    truth, column = read_truth(truth_file_for(built.truth_dir, "acquisition"), "acquisition")
    assert column == "true_acquisition_probability"
    gap = truth_gap(predictions, truth, column)
    assert gap.matched_rows == len(predictions), "every out-of-time lead row has a truth"
    print(
        f"\nacquisition pooled ROC-AUC: model {gap.pooled.model_roc_auc:.3f}, "
        f"truth {gap.pooled.truth_roc_auc:.3f} over {gap.matched_rows} rows"
    )
    assert gap.pooled.model_roc_auc > 0.65
    assert gap.pooled.truth_roc_auc > gap.pooled.model_roc_auc - 0.02
