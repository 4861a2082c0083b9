"""Point-in-time correctness of features and labels.

Features at a snapshot may only use events strictly before it: changing or adding events after
a snapshot S (with the snapshot grid pinned by as_of_date) must leave every feature at every
snapshot <= S unchanged. Labels are recomputed independently from the clean marts.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

AS_OF = datetime(2026, 11, 1)
S = datetime(2026, 6, 1)  # the snapshot after which events are changed
LATER = date(2026, 7, 1)  # a snapshot after S that must see the changes
LABEL_WINDOW = timedelta(days=30)


def snapshot_grid(as_of: datetime = AS_OF, months: int = 24) -> list[datetime]:
    """The monthly snapshot dates ending at as_of (the as-of snapshot is the last)."""
    end = as_of.year * 12 + as_of.month - 1
    return [datetime(m // 12, m % 12 + 1, 1) for m in range(end - months + 1, end + 1)]


def local_text(instant: datetime, offset_minutes: int, separator: str = " ") -> str:
    """A UTC instant written as the raw contract writes it: local time with its UTC offset."""
    local = instant + timedelta(minutes=offset_minutes)
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{local:%Y-%m-%d}{separator}{local:%H:%M:%S}{sign}{hours:02d}:{minutes:02d}"


def na_to_none(value: object) -> object:
    return None if value is None or pd.isna(value) else value


class RawCopy:
    """A copy of the raw Parquet tables that can be rewritten table by table."""

    def __init__(self, source: Path, destination: Path) -> None:
        shutil.copytree(source, destination)
        self.root = destination

    def read(self, table: str) -> tuple[pd.DataFrame, pa.Schema]:
        arrow = pq.read_table(self.root / table)
        return arrow.to_pandas(types_mapper=pd.ArrowDtype), arrow.schema

    def write(self, table: str, frame: pd.DataFrame, schema: pa.Schema) -> None:
        for part in (self.root / table).glob("*.parquet"):
            part.unlink()
        arrow = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        pq.write_table(arrow, self.root / table / "part-00000.parquet")

    def append(self, table: str, rows: list[dict]) -> None:
        frame, schema = self.read(table)
        key = schema.names[0]
        first_id = int(frame[key].max()) + 1
        for offset, row in enumerate(rows):
            row.setdefault(key, first_id + offset)
        added = pa.Table.from_pylist(rows, schema=schema).to_pandas(types_mapper=pd.ArrowDtype)
        self.write(table, pd.concat([frame, added], ignore_index=True), schema)


def utc_of(texts: pd.Series, utc) -> pd.Series:
    return pd.Series([utc(na_to_none(t)) for t in texts], index=texts.index, dtype=object)


def change_events_after(raw: RawCopy, chosen: pd.DataFrame, utc) -> None:
    """Add and change events dated at or after S (UTC), many of them written in offsets that
    put their local wall-clock date before S."""
    west = -480  # UTC-8: S + 1h is 2026-05-31 17:00 local
    customers = chosen["customer_id"].astype(int).tolist()

    # Orders: new purchases from exactly S on (none after the as-of date, which would move
    # the default as-of snapshot); the orders already placed after S get other amounts and
    # statuses.
    orders, orders_schema = raw.read("orders")
    next_order = int(orders["order_id"].max()) + 1
    new_orders, new_lines = [], []
    for index, customer in enumerate(customers):
        for instant in (S + timedelta(hours=index % 5), S + timedelta(days=15, minutes=index)):
            new_orders.append(
                {
                    "order_id": next_order,
                    "customer_id": customer,
                    "ordered_at": local_text(instant, west, "T"),
                    "order_status": "completed",
                    "sales_channel": "web",
                }
            )
            new_lines.append(
                {
                    "order_id": next_order,
                    "product_id": 1 + index % 60,
                    "quantity": 2,
                    "unit_price": 123.45,
                    "discount_amount": 0.0,
                }
            )
            next_order += 1
    ordered_utc = utc_of(orders["ordered_at"], utc)
    after = ordered_utc.map(lambda t: t is not None and t >= S).astype(bool)
    after_ids = set(orders.loc[after, "order_id"].dropna().astype(int))
    assert len(after_ids) > 100
    completed = (orders["order_status"] == "completed").fillna(False).astype(bool)
    refunded = after & completed & (orders.index % 3 == 0)
    orders.loc[refunded, "order_status"] = "refunded"
    # Orders placed before S by the chosen customers, refunded or cancelled later: the raw
    # status carries no date, so the change is news from after S and must not move features.
    placed_before = ~after & completed & orders["customer_id"].isin(customers).fillna(False)
    assert placed_before.sum() > 20
    orders.loc[placed_before, "order_status"] = np.where(
        orders.index[placed_before] % 2 == 0, "refunded", "cancelled"
    )
    raw.write("orders", orders, orders_schema)
    raw.append("orders", new_orders)

    lines, lines_schema = raw.read("order_lines")
    in_after = lines["order_id"].isin(after_ids).fillna(False).astype(bool)
    lines.loc[in_after, "unit_price"] = lines.loc[in_after, "unit_price"] * 3 + 1
    raw.write("order_lines", lines, lines_schema)
    raw.append("order_lines", new_lines)

    # Sessions and email events a few hours after S (local date still May 31).
    raw.append(
        "sessions",
        [
            {
                "customer_id": customer,
                "started_at": local_text(S + timedelta(minutes=30 + k), -300),
                "device": "web",
                "page_views": 12,
                "product_clicks": 9,
                "duration_seconds": 300,
            }
            for customer in customers
            for k in range(3)
        ],
    )
    raw.append(
        "email_events",
        [
            {
                "customer_id": customer,
                "email_campaign_code": "UPG-202606",
                "event_type": event_type,
                "occurred_at": local_text(S + timedelta(hours=2), west),
            }
            for customer in customers
            for event_type in ("send", "open", "click", "click")
        ],
    )

    # Support: new tickets after S; open tickets get resolved and escalated after S.
    tickets, tickets_schema = raw.read("support_tickets")
    opened = utc_of(tickets["opened_at"], utc)
    resolved = utc_of(tickets["resolved_at"], utc)
    escalated = utc_of(tickets["escalated_at"], utc)
    opened_before = opened.map(lambda t: t is not None and t < S).astype(bool)
    still_open = opened_before & resolved.map(lambda t: t is None or t >= S).astype(bool)
    assert still_open.sum() > 0
    tickets.loc[still_open, "resolved_at"] = local_text(S + timedelta(hours=6), west)
    not_escalated = opened_before & escalated.map(lambda t: t is None or t >= S).astype(bool)
    tickets.loc[not_escalated, "escalated_at"] = local_text(S + timedelta(hours=1), west)
    raw.write("support_tickets", tickets, tickets_schema)
    raw.append(
        "support_tickets",
        [
            {
                "customer_id": customer,
                "opened_at": local_text(S + timedelta(hours=3), west),
                "escalated_at": local_text(S + timedelta(hours=4), west),
                "resolved_at": local_text(S + timedelta(days=2), west),
                "priority": "urgent",
                "topic": "billing",
            }
            for customer in customers
        ],
    )

    # Subscriptions: upgrades to pro right after S; some subscriptions cancelled after S.
    raw.append(
        "plan_changes",
        [
            {
                "subscription_id": int(row.subscription_id),
                "changed_at": local_text(S + timedelta(hours=1), west),
                "from_plan": row.plan_code,
                "to_plan": "pro",
            }
            for row in chosen.itertuples()
            if row.plan_code != "pro"
        ],
    )
    subscriptions, subscriptions_schema = raw.read("subscriptions")
    cancelled = utc_of(subscriptions["cancelled_at"], utc)
    to_cancel = subscriptions["subscription_id"].isin(
        chosen["subscription_id"].iloc[::2].astype(int).tolist()
    ).fillna(False).astype(bool) & cancelled.map(lambda t: t is None or t >= S).astype(bool)
    assert to_cancel.sum() > 0
    subscriptions.loc[to_cancel, "cancelled_at"] = local_text(S + timedelta(days=10), west)
    raw.write("subscriptions", subscriptions, subscriptions_schema)

    # Offers shown before S and not answered before it are accepted after S: the acceptance
    # is news from after S. Then more offers and consents after S.
    offers, offers_schema = raw.read("offers")
    shown = utc_of(offers["shown_at"], utc)
    responded = utc_of(offers["responded_at"], utc)
    open_at_s = shown.map(lambda t: t is not None and t < S).astype(bool) & responded.map(
        lambda t: t is None or t >= S
    ).astype(bool)
    assert open_at_s.sum() > 20
    offers.loc[open_at_s, "responded_at"] = local_text(S + timedelta(hours=2), west)
    offers.loc[open_at_s, "response"] = "accepted"
    raw.write("offers", offers, offers_schema)
    raw.append(
        "offers",
        [
            {
                "customer_id": customer,
                "offer_type": "upsell",
                "channel": "email",
                "shown_at": local_text(S + timedelta(hours=1), west),
                "responded_at": None,
                "response": None,
            }
            for customer in customers
        ],
    )
    raw.append(
        "consents",
        [
            {
                "customer_id": customer,
                "channel": "email",
                "consent_status": "opted_out",
                "recorded_at": local_text(S + timedelta(hours=1), west),
            }
            for customer in customers
        ],
    )


def assert_same_values(expected: pd.DataFrame, actual: pd.DataFrame, what: str) -> None:
    """Same rows and columns; floats equal up to summation-order noise, the rest exactly."""
    assert list(expected.columns) == list(actual.columns), what
    assert len(expected) == len(actual), what
    keys = [expected.columns[0], "snapshot_date"]  # customer_id or lead_id, and the snapshot
    for column in expected.columns:
        left, right = expected[column], actual[column]
        if pd.api.types.is_float_dtype(left) or pd.api.types.is_float_dtype(right):
            left_values = left.astype("float64").to_numpy()
            right_values = right.astype("float64").to_numpy()
            same = np.isclose(left_values, right_values, rtol=1e-9, atol=1e-9, equal_nan=True)
        else:
            same = np.array(
                [na_to_none(a) == na_to_none(b) for a, b in zip(left, right, strict=True)]
            )
        assert same.all(), (
            f"{what}: {column} differs in {(~same).sum()} rows, e.g. "
            f"{expected.loc[~same, [*keys, column]].head(3).to_dict()} "
            f"vs {actual.loc[~same, column].head(3).tolist()}"
        )


FEATURES_SQL = "select * from marts.customer_feature_snapshots order by customer_id, snapshot_date"


def test_features_at_or_before_s_ignore_events_after_s(built, dbt, utc, tmp_path):
    chosen = dbt.query(
        built.warehouse,
        "select customer_id, subscription_id, plan_code from marts.customer_feature_snapshots "
        "where snapshot_date = ? and is_subscription_active order by customer_id limit 40",
        [S.date()],
    )
    assert len(chosen) == 40
    raw = RawCopy(built.raw_dir, tmp_path / "raw")
    change_events_after(raw, chosen, utc)

    # The as_of_date var pins the snapshot grid, whatever the changed data's last order.
    warehouse = tmp_path / "changed.duckdb"
    dbt.run(
        ["build", "--select", "+customer_feature_snapshots", "--indirect-selection", "cautious"],
        warehouse=warehouse,
        raw_dir=raw.root,
        variables={"model_dir": str(tmp_path / "models"), "as_of_date": "2026-11-01"},
    )
    grid = dbt.rows(warehouse, "select snapshot_date from intermediate.int_snapshot_dates")
    assert sorted(row[0] for row in grid) == [d.date() for d in snapshot_grid()]

    base = dbt.query(built.warehouse, FEATURES_SQL)
    changed = dbt.query(warehouse, FEATURES_SQL)
    base_dates = base["snapshot_date"].dt.date
    changed_dates = changed["snapshot_date"].dt.date
    before = base[base_dates <= S.date()].reset_index(drop=True)
    assert before["snapshot_date"].nunique() == 19
    assert_same_values(
        before,
        changed[changed_dates <= S.date()].reset_index(drop=True),
        "features at snapshots <= S",
    )

    # The changes were visible: the first snapshot after S moved in every kind of feature.
    later_base = base[base_dates == LATER].set_index("customer_id")
    later_changed = changed[changed_dates == LATER].set_index("customer_id")
    assert later_base.index.equals(later_changed.index)
    moved = {
        column
        for column in later_base.columns
        if not np.array_equal(
            later_base[column].astype(str).to_numpy(), later_changed[column].astype(str).to_numpy()
        )
    }
    assert moved >= {
        "orders_count",
        "total_spend",
        "orders_count_30d",
        "sessions_count_30d",
        "product_clicks_count_30d",
        "email_clicks_count_30d",
        "support_tickets_count_30d",
        "has_escalation_90d",
        "plan_tier_rank",
        "is_subscription_active",
        "prior_upsell_offers_count",
        "spend_3m",
        "spend_trend_3m",
        "average_product_tier_rank",
        "average_units_per_item",
        "discounted_items_share",
        "sales_rep_orders_share",
        "sessions_count_90d",
        "product_clicks_count_90d",
        "product_click_rate",
        "product_click_rate_90d",
        "email_clicks_count_90d",
        "email_open_rate",
        "email_click_to_open_rate",
        "support_escalations_count_30d",
        "upgrades_count",
        "has_upsell_offer_30d",
        "offer_acceptance_rate",
    }, moved
    customer = int(chosen["customer_id"].iloc[1])
    assert later_changed.loc[customer, "plan_code"] == "pro"
    assert later_changed.loc[customer, "sessions_count_30d"] >= 3
    assert later_changed.loc[customer, "email_clicks_count_30d"] >= 2
    assert later_changed.loc[customer, "support_escalations_count_30d"] >= 1
    assert later_changed.loc[customer, "has_upsell_offer_30d"]
    upgraded = chosen.loc[chosen["plan_code"] != "pro", "customer_id"].astype(int).tolist()
    assert upgraded
    assert (
        later_changed.loc[upgraded, "upgrades_count"] > later_base.loc[upgraded, "upgrades_count"]
    ).all()


def test_as_of_date_var_pins_a_grid_of_24_distinct_snapshots(built, dbt, tmp_path):
    warehouse = tmp_path / "pinned.duckdb"
    dbt.run(
        ["run", "--select", "+int_snapshot_dates"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={"model_dir": str(tmp_path / "models"), "as_of_date": "2026-06-01"},
    )
    rows = dbt.rows(
        warehouse,
        "select snapshot_date, is_as_of_snapshot, as_of_date "
        "from intermediate.int_snapshot_dates order by snapshot_date",
    )
    grid = [d.date() for d in snapshot_grid(S)]
    assert [row[0] for row in rows] == grid, f"{len(rows)} rows for {len(grid)} snapshots"
    assert [row[1] for row in rows] == [False] * 23 + [True]
    assert {row[2] for row in rows} == {S.date()}


# ------------------------------------------------------------------------------------------
# 3. Labels
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def expected_labels(built, dbt) -> pd.DataFrame:
    """The up-sell population and labels recomputed in pandas from the clean marts."""
    customers = dbt.query(built.warehouse, "select customer_id, signed_up_at from marts.customers")
    subscriptions = dbt.query(built.warehouse, "select * from marts.subscriptions")
    changes = dbt.query(built.warehouse, "select * from marts.plan_changes")
    tiers = dict(dbt.rows(built.warehouse, "select plan_code, tier_rank from config.plan_tiers"))
    top_tier = max(tiers.values())

    upgrades = changes.merge(subscriptions[["subscription_id", "customer_id"]])
    upgrades = upgrades[upgrades["to_plan"].map(tiers) > upgrades["from_plan"].map(tiers)]
    assert len(upgrades) > 100

    frames = []
    for snapshot in snapshot_grid():
        started = subscriptions[subscriptions["started_at"] < snapshot].copy()
        newest_change = (
            changes[changes["changed_at"] < snapshot]
            .sort_values(["changed_at", "plan_change_id"])
            .groupby("subscription_id")["to_plan"]
            .last()
        )
        started["plan"] = started["subscription_id"].map(newest_change)
        started["plan"] = started["plan"].fillna(started["initial_plan"])
        started["active"] = started["cancelled_at"].isna() | (started["cancelled_at"] >= snapshot)
        current = started.sort_values(
            ["active", "started_at", "subscription_id"], ascending=False
        ).drop_duplicates("customer_id")
        signed_up = set(customers.loc[customers["signed_up_at"] < snapshot, "customer_id"])
        eligible = current[
            current["active"]
            & (current["plan"].map(tiers) < top_tier)
            & current["customer_id"].isin(signed_up)
        ]
        window_end = snapshot + LABEL_WINDOW
        in_window = upgrades[
            (upgrades["changed_at"] >= snapshot) & (upgrades["changed_at"] < window_end)
        ]
        first_upgrade = in_window.groupby("customer_id")["changed_at"].min()
        complete = window_end <= AS_OF
        frame = pd.DataFrame({"customer_id": eligible["customer_id"].astype(int).to_numpy()})
        frame["snapshot_date"] = snapshot.date()
        frame["label_window_end_date"] = window_end.date()
        frame["is_label_complete"] = complete
        upgraded_at = pd.Series(
            first_upgrade.reindex(frame["customer_id"]).to_numpy(), dtype="datetime64[us]"
        )
        frame["has_upgraded"] = upgraded_at.notna() if complete else None
        frame["first_upgraded_at"] = upgraded_at if complete else pd.NaT
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def actual_labels(built, dbt) -> pd.DataFrame:
    labels = dbt.query(
        built.warehouse,
        "select customer_id, snapshot_date, label_window_end_date, is_label_complete, "
        "has_upgraded, first_upgraded_at from intermediate.int_upsell_labels",
    )
    labels["snapshot_date"] = labels["snapshot_date"].dt.date
    labels["label_window_end_date"] = labels["label_window_end_date"].dt.date
    return labels


def test_population_is_exactly_the_eligible_customers(expected_labels, actual_labels):
    keys = ["customer_id", "snapshot_date"]
    expected = set(expected_labels[keys].itertuples(index=False, name=None))
    actual = set(actual_labels[keys].itertuples(index=False, name=None))
    assert len(actual) == len(actual_labels), "one label row per customer and snapshot"
    assert actual == expected, (
        f"{len(actual - expected)} unexpected rows, e.g. {sorted(actual - expected)[:3]}; "
        f"{len(expected - actual)} missing, e.g. {sorted(expected - actual)[:3]}"
    )


def test_labels_are_upgrades_in_the_30_day_window(expected_labels, actual_labels):
    keys = ["customer_id", "snapshot_date"]
    merged = expected_labels.merge(actual_labels, on=keys, suffixes=("_expected", ""))
    assert len(merged) == len(actual_labels)
    assert (merged["label_window_end_date"] == merged["label_window_end_date_expected"]).all()
    assert (merged["is_label_complete"] == merged["is_label_complete_expected"]).all()
    complete = merged[merged["is_label_complete"]]
    assert (complete["has_upgraded"] == complete["has_upgraded_expected"]).all()
    assert complete["has_upgraded"].sum() > 200
    upgraded = complete[complete["has_upgraded"]]
    assert (
        upgraded["first_upgraded_at"].astype("datetime64[us]")
        == upgraded["first_upgraded_at_expected"].astype("datetime64[us]")
    ).all()
    assert complete.loc[~complete["has_upgraded"], "first_upgraded_at"].isna().all()


def test_as_of_snapshot_labels_are_incomplete_and_null(actual_labels):
    as_of_rows = actual_labels[actual_labels["snapshot_date"] == AS_OF.date()]
    assert len(as_of_rows) > 0
    assert not as_of_rows["is_label_complete"].any()
    assert as_of_rows["has_upgraded"].isna().all()
    assert as_of_rows["first_upgraded_at"].isna().all()
    others = actual_labels[actual_labels["snapshot_date"] != AS_OF.date()]
    assert others["is_label_complete"].all()
    assert others["has_upgraded"].notna().all()


def test_training_set_holds_only_complete_labels_of_the_population(built, dbt, actual_labels):
    training = dbt.query(
        built.warehouse,
        "select customer_id, snapshot_date, has_upgraded from ml.upsell_training_set",
    )
    training["snapshot_date"] = training["snapshot_date"].dt.date
    complete = actual_labels[actual_labels["is_label_complete"]]
    assert len(training) == len(complete)
    merged = training.merge(complete, on=["customer_id", "snapshot_date"], suffixes=("", "_label"))
    assert len(merged) == len(training)
    assert (merged["has_upgraded"] == merged["has_upgraded_label"]).all()


def test_population_and_labels_agree_with_the_generators_truth(built, dbt, actual_labels):
    truth = pd.read_parquet(built.truth_file)
    truth["snapshot_date"] = pd.to_datetime(truth["snapshot_date"]).dt.date
    merged = truth.merge(
        actual_labels, on=["customer_id", "snapshot_date"], how="left", indicator=True
    )
    in_population = merged["_merge"] == "both"
    assert (in_population == merged["is_eligible"]).all()
    assert in_population.sum() == len(actual_labels)
    complete = merged[in_population & merged["is_label_complete"].fillna(False).astype(bool)]
    assert (complete["has_upgraded"] == complete["has_upgraded_in_window"]).all()
