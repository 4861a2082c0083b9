"""Product affinity (issue 4, cross-sell): basket and co-ownership figures recomputed in pandas.

The basket marts (product_pair_affinity, category_pair_affinity), the co-ownership mart at two
snapshots and the customer x category features are recomputed from the clean marts
(marts.orders, marts.order_lines, marts.products) read back from the session's warehouse, by a
direct route (sets of owners at a date, not per-period counts summed forward), and must agree
to 1e-12. A point-in-time test changes orders dated on or after a snapshot and shows the
customer x category rows at and before it do not move.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
AS_OF = pd.Timestamp(2026, 11, 1)
EARLY = pd.Timestamp(2025, 6, 1)  # a snapshot with a much smaller customer base
S = datetime(2026, 6, 1)  # the point-in-time test changes orders from here on
LATER = pd.Timestamp(2026, 7, 1)  # the first snapshot after S: it must see the changes
TOLERANCE = 1e-12
COUNT_COLUMNS = ["pair_count", "antecedent_count", "consequent_count", "total_count"]
FIGURE_COLUMNS = ["support", "confidence", "lift"]


def affinity_vars() -> dict:
    """The affinity thresholds as dbt_project.yml sets them."""
    project = yaml.safe_load((PROJECT / "dbt_project.yml").read_text())
    return {
        name: project["vars"][name]
        for name in ("affinity_min_pair_baskets", "affinity_min_support")
    }


def pair_figures(
    holders: pd.DataFrame, group: str, item: str, items: list | None = None
) -> pd.DataFrame:
    """Support, confidence and lift of every ordered pair of distinct items, where holders has
    one row per (group, item) held (a basket and its products, or a customer and the
    categories owned). With items, every pair of them is listed, held together or not."""
    total = holders[group].nunique()
    per_item = holders.groupby(item).size()
    pairs = holders.merge(holders, on=group, suffixes=("_a", "_c"))
    pairs = pairs[pairs[f"{item}_a"] != pairs[f"{item}_c"]]
    counted = pairs.groupby([f"{item}_a", f"{item}_c"]).size().rename("pair_count")
    if items is not None:
        grid = pd.MultiIndex.from_tuples(
            [(a, c) for a in items for c in items if a != c], names=counted.index.names
        )
        counted = counted.reindex(grid, fill_value=0)
    frame = counted.reset_index().rename(
        columns={f"{item}_a": "antecedent", f"{item}_c": "consequent"}
    )
    frame["antecedent_count"] = frame["antecedent"].map(per_item).fillna(0).astype("int64")
    frame["consequent_count"] = frame["consequent"].map(per_item).fillna(0).astype("int64")
    frame["total_count"] = total
    pair = frame["pair_count"].astype("float64")
    frame["support"] = pair / total
    frame["confidence"] = pair / frame["antecedent_count"]
    frame["lift"] = pair * total / (frame["antecedent_count"] * frame["consequent_count"])
    return frame


def assert_figures_equal(expected: pd.DataFrame, actual: pd.DataFrame, what: str) -> None:
    """Same pairs, same counts, figures within TOLERANCE (nulls where expected is NaN)."""
    keys = ["antecedent", "consequent"]
    merged = expected.merge(actual, on=keys, how="outer", suffixes=("", "_sql"), indicator=True)
    unmatched = merged[merged["_merge"] != "both"]
    assert unmatched.empty, f"{what}: pairs differ, e.g. {unmatched[[*keys, '_merge']].head()}"
    for column in COUNT_COLUMNS:
        assert (merged[column] == merged[f"{column}_sql"]).all(), f"{what}: {column}"
    for column in FIGURE_COLUMNS:
        left = merged[column].astype("float64").to_numpy()
        right = merged[f"{column}_sql"].astype("float64").to_numpy()
        assert (np.isnan(left) == np.isnan(right)).all(), f"{what}: {column} nulls"
        finite = ~np.isnan(left)
        assert np.abs(left[finite] - right[finite]).max(initial=0) <= TOLERANCE, f"{what}: {column}"


@pytest.fixture(scope="module")
def bought(built, dbt) -> pd.DataFrame:
    """Every (order, product) bought: a line with a positive quantity, from the clean marts."""
    orders = dbt.query(
        built.warehouse, "select order_id, customer_id, ordered_at, order_status from marts.orders"
    )
    lines = dbt.query(
        built.warehouse, "select order_id, product_id, quantity from marts.order_lines"
    )
    products = dbt.query(built.warehouse, "select product_id, category from marts.products")
    frame = lines[lines["quantity"] > 0].merge(orders, on="order_id").merge(products)
    frame["ordered_date"] = frame["ordered_at"].dt.normalize()
    return frame.drop_duplicates(["order_id", "product_id"])


@pytest.fixture(scope="module")
def categories(built, dbt) -> list[str]:
    return sorted(
        dbt.query(built.warehouse, "select distinct category from marts.products")["category"]
    )


@pytest.fixture(scope="module")
def coownership_sql(built, dbt) -> pd.DataFrame:
    return dbt.query(
        built.warehouse,
        "select snapshot_date, antecedent_category as antecedent, "
        "consequent_category as consequent, pair_customers_count as pair_count, "
        "antecedent_customers_count as antecedent_count, "
        "consequent_customers_count as consequent_count, customers_count as total_count, "
        "support, confidence, lift from affinity.category_coownership_affinity",
    )


def coownership_at(bought: pd.DataFrame, categories: list[str], snapshot) -> pd.DataFrame:
    """Co-ownership at a snapshot straight from its definition: the categories each customer
    had bought (any order placed, whatever its status) strictly before the snapshot."""
    owned = bought.loc[bought["ordered_date"] < snapshot, ["customer_id", "category"]]
    return pair_figures(owned.drop_duplicates(), "customer_id", "category", categories)


def test_as_of_date_is_the_month_after_the_newest_order(built, dbt, bought):
    newest = dbt.scalar(built.warehouse, "select max(ordered_at) from marts.orders")
    assert pd.Timestamp(newest).to_period("M").to_timestamp() + pd.offsets.MonthBegin() == AS_OF
    as_of_dates = dbt.rows(
        built.warehouse, "select distinct as_of_date from affinity.product_pair_affinity"
    )
    assert [pd.Timestamp(row[0]) for row in as_of_dates] == [AS_OF]


@pytest.mark.parametrize("item", ["product_id", "category"])
def test_basket_pairs_equal_pandas(built, dbt, bought, item):
    thresholds = affinity_vars()
    baskets = bought[(bought["order_status"] == "completed") & (bought["ordered_date"] < AS_OF)]
    every_pair = pair_figures(baskets[["order_id", item]].drop_duplicates(), "order_id", item)
    kept = every_pair[
        (every_pair["pair_count"] >= thresholds["affinity_min_pair_baskets"])
        & (every_pair["support"] >= thresholds["affinity_min_support"])
    ]
    table = "product_pair_affinity" if item == "product_id" else "category_pair_affinity"
    actual = dbt.query(
        built.warehouse,
        f"select antecedent_{item} as antecedent, consequent_{item} as consequent, "
        "pair_baskets_count as pair_count, antecedent_baskets_count as antecedent_count, "
        "consequent_baskets_count as consequent_count, baskets_count as total_count, "
        f"support, confidence, lift from affinity.{table}",
    )
    assert_figures_equal(kept, actual, table)
    assert len(kept) > 20
    assert (every_pair["antecedent"] != every_pair["consequent"]).all()
    if item == "product_id":
        # The thresholds bite on the demo data: most product pairs are too rare to keep.
        assert len(every_pair) > 2 * len(kept)
    else:
        assert len(kept) == 7 * 6
    # Lift is symmetric, exactly.
    mirrored = actual.merge(
        actual,
        left_on=["antecedent", "consequent"],
        right_on=["consequent", "antecedent"],
        suffixes=("", "_mirrored"),
    )
    assert len(mirrored) == len(actual)
    assert (mirrored["lift"] == mirrored["lift_mirrored"]).all()


@pytest.mark.parametrize("snapshot", [EARLY, AS_OF], ids=["early", "as_of"])
def test_coownership_equals_pandas(bought, categories, coownership_sql, snapshot):
    expected = coownership_at(bought, categories, snapshot)
    actual = coownership_sql[coownership_sql["snapshot_date"] == snapshot]
    assert len(actual) == len(categories) * (len(categories) - 1) == 42
    assert_figures_equal(expected, actual.drop(columns="snapshot_date"), f"co-ownership {snapshot}")
    assert expected["total_count"].iloc[0] > 300
    assert (expected["pair_count"] > 0).all()


def test_coownership_grows_with_the_snapshots(coownership_sql):
    """Owners are counted once, from the snapshot after their first order, and never lost."""
    ordered = coownership_sql.sort_values("snapshot_date")
    for column in COUNT_COLUMNS:
        steps = ordered.groupby(["antecedent", "consequent"])[column].diff().dropna()
        assert (steps >= 0).all(), column
    assert ordered["snapshot_date"].nunique() == 24


@pytest.mark.parametrize("snapshot", [EARLY, AS_OF], ids=["early", "as_of"])
def test_customer_category_features_equal_pandas(built, dbt, bought, categories, snapshot):
    customers = dbt.query(
        built.warehouse,
        "select customer_id from marts.customer_feature_snapshots where snapshot_date = ?",
        [snapshot.date()],
    )["customer_id"]
    grid = pd.MultiIndex.from_product(
        [sorted(customers), categories], names=["customer_id", "product_category"]
    ).to_frame(index=False)
    before = bought[bought["ordered_date"] < snapshot]
    per_category = (
        before.groupby(["customer_id", "category"])
        .agg(
            category_orders_count=("order_id", "nunique"),
            last_ordered_date=("ordered_date", "max"),
        )
        .reset_index()
        .rename(columns={"category": "product_category"})
    )
    expected = grid.merge(per_category, how="left")
    expected["category_orders_count"] = expected["category_orders_count"].fillna(0).astype(int)
    expected["owns_category"] = expected["category_orders_count"] > 0
    expected["days_since_category_order"] = (snapshot - expected["last_ordered_date"]).dt.days
    expected["owned_categories_count"] = expected.groupby("customer_id")["owns_category"].transform(
        "sum"
    )

    # The strongest co-ownership from any other category owned, at this snapshot.
    coownership = coownership_at(bought, categories, snapshot)
    owned = expected.loc[expected["owns_category"], ["customer_id", "product_category"]]
    reachable = owned.merge(coownership, left_on="product_category", right_on="antecedent")
    strongest = reachable.groupby(["customer_id", "consequent"]).agg(
        max_coownership_lift=("lift", "max"), max_coownership_confidence=("confidence", "max")
    )
    expected = expected.merge(
        strongest,
        how="left",
        left_on=["customer_id", "product_category"],
        right_index=True,
    )

    actual = dbt.query(
        built.warehouse,
        "select * from intermediate.int_customer_category_snapshots where snapshot_date = ?",
        [snapshot.date()],
    )
    merged = expected.merge(
        actual, on=["customer_id", "product_category"], how="outer", suffixes=("", "_sql")
    )
    assert len(merged) == len(expected) == len(actual) == len(customers) * 7
    for column in ["owns_category", "category_orders_count", "owned_categories_count"]:
        assert (merged[column] == merged[f"{column}_sql"]).all(), column
    for column in [
        "days_since_category_order",
        "max_coownership_lift",
        "max_coownership_confidence",
    ]:
        left = merged[column].astype("float64").to_numpy()
        right = merged[f"{column}_sql"].astype("float64").to_numpy()
        assert (np.isnan(left) == np.isnan(right)).all(), column
        finite = ~np.isnan(left)
        assert np.abs(left[finite] - right[finite]).max(initial=0) <= TOLERANCE, column
    # Not vacuous: owners and non-owners, with and without a co-ownership figure.
    assert merged["owns_category"].any() and not merged["owns_category"].all()
    assert merged["max_coownership_lift"].notna().sum() > len(customers)
    assert (merged["owned_categories_count"] == 0).any()


# ------------------------------------------------------------------------------------------
# Point in time
# ------------------------------------------------------------------------------------------


def rewrite(raw: Path, table: str, change) -> None:
    """Replace a raw Parquet table: change(frame) returns the changed frame and rows to add."""
    arrow = pq.read_table(raw / table)
    frame, added = change(arrow.to_pandas(types_mapper=pd.ArrowDtype))
    added_frame = pa.Table.from_pylist(added, schema=arrow.schema).to_pandas(
        types_mapper=pd.ArrowDtype
    )
    for part in (raw / table).glob("*.parquet"):
        part.unlink()
    pq.write_table(
        pa.Table.from_pandas(
            pd.concat([frame, added_frame], ignore_index=True),
            schema=arrow.schema,
            preserve_index=False,
        ),
        raw / table / "part-00000.parquet",
    )


def change_orders_from(raw: Path, customers: list[int], utc) -> None:
    """Orders from S on: new two-category orders for the given customers (an hour or more
    after S in UTC, written in UTC-8 so that their local date is still before S), and the
    orders already placed after S moved to products of the next category; the customers'
    completed orders placed before S are refunded or cancelled (a status has no date: it is
    news from after S)."""
    orders = pq.read_table(raw / "orders").to_pandas(types_mapper=pd.ArrowDtype)
    placed = pd.to_datetime(orders["ordered_at"].map(utc, na_action="ignore"))
    after = (placed >= S).fillna(False).astype(bool)
    after_ids = set(orders.loc[after, "order_id"].dropna().astype(int))
    assert len(after_ids) > 100
    first_order = int(orders["order_id"].max()) + 1
    new_orders = [
        {
            "order_id": first_order + index,
            "customer_id": customer,
            "ordered_at": f"{S + timedelta(hours=index % 5 - 7):%Y-%m-%dT%H:%M:%S}-08:00",
            "order_status": "completed",
            "sales_channel": "web",
        }
        for index, customer in enumerate(customers)
    ]

    def orders_changed(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
        earlier = ~after & (frame["order_status"] == "completed").fillna(False).astype(bool)
        earlier &= frame["customer_id"].isin(customers).fillna(False).astype(bool)
        assert earlier.sum() > 20
        frame.loc[earlier, "order_status"] = np.where(
            frame.index[earlier] % 2 == 0, "refunded", "cancelled"
        )
        return frame, new_orders

    def lines_changed(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
        later = frame["order_id"].isin(after_ids).fillna(False).astype(bool)
        # 9 products per category (ids 1..63): + 9 is the same product in the next category.
        moved = frame.loc[later, "product_id"].astype("int64")
        frame.loc[later, "product_id"] = (moved + 8) % 63 + 1
        first_line = int(frame["order_line_id"].max()) + 1
        new_lines = [
            {
                "order_line_id": first_line + 2 * index + offset,
                "order_id": order["order_id"],
                "product_id": 1 + ((index + 3 * offset) % 7) * 9,
                "quantity": 1,
                "unit_price": 50.0,
                "discount_amount": 0.0,
            }
            for index, order in enumerate(new_orders)
            for offset in (0, 1)
        ]
        return frame, new_lines

    rewrite(raw, "orders", orders_changed)
    rewrite(raw, "order_lines", lines_changed)


CATEGORY_ROWS_SQL = (
    "select * from intermediate.int_customer_category_snapshots "
    "order by snapshot_date, customer_id, product_category"
)
COOWNERSHIP_SQL = (
    "select * from affinity.category_coownership_affinity "
    "order by snapshot_date, antecedent_category, consequent_category"
)


def test_customer_category_rows_at_or_before_s_ignore_orders_from_s(built, dbt, utc, tmp_path):
    customers = (
        dbt.query(
            built.warehouse,
            "select customer_id from intermediate.int_customer_category_snapshots "
            "where snapshot_date = ? group by customer_id "
            "having max(owned_categories_count) between 1 and 5 order by customer_id limit 40",
            [S.date()],
        )["customer_id"]
        .astype(int)
        .tolist()
    )
    assert len(customers) == 40
    raw = tmp_path / "raw"
    shutil.copytree(built.raw_dir, raw)
    change_orders_from(raw, customers, utc)

    warehouse = tmp_path / "changed.duckdb"
    dbt.run(
        [
            "build",
            "--select",
            "+int_customer_category_snapshots",
            "--indirect-selection",
            "cautious",
        ],
        warehouse=warehouse,
        raw_dir=raw,
        variables={"model_dir": str(tmp_path / "models"), "as_of_date": AS_OF.date().isoformat()},
    )

    for sql, what in [
        (CATEGORY_ROWS_SQL, "customer x category"),
        (COOWNERSHIP_SQL, "co-ownership"),
    ]:
        base = dbt.query(built.warehouse, sql)
        changed = dbt.query(warehouse, sql)
        base_before = base[base["snapshot_date"] <= pd.Timestamp(S)].reset_index(drop=True)
        changed_before = changed[changed["snapshot_date"] <= pd.Timestamp(S)]
        assert base_before["snapshot_date"].nunique() == 19, what
        pd.testing.assert_frame_equal(
            base_before, changed_before.reset_index(drop=True), check_exact=False, atol=TOLERANCE
        )

        # The changes were visible at the first snapshot after S.
        base_later = base[base["snapshot_date"] == LATER].reset_index(drop=True)
        changed_later = changed[changed["snapshot_date"] == LATER].reset_index(drop=True)
        assert len(base_later) == len(changed_later) > 0, what
        moved = {
            column
            for column in base_later.columns
            if not base_later[column].astype(str).equals(changed_later[column].astype(str))
        }
        if what == "customer x category":
            assert moved >= {
                "owns_category",
                "category_orders_count",
                "days_since_category_order",
                "owned_categories_count",
                "max_coownership_lift",
                "max_coownership_confidence",
            }, moved
        else:
            assert moved >= {"pair_customers_count", "support", "confidence", "lift"}, moved
