"""End to end: raw Parquet -> dbt build -> clean marts and quarantine -> audiences.

Every expectation here is recomputed in Python from the raw files or from the clean marts, and
compared value by value with what the warehouse holds.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

# The generator's default window ends here, so the default as-of snapshot is this date.
GENERATOR_END_DATE = date(2026, 11, 1)

# Every raw table: its key column and its timestamp columns (raw text with a UTC offset).
RAW_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "customers": ("customer_id", ("signed_up_at", "updated_at")),
    "products": ("product_id", ()),
    "subscriptions": ("subscription_id", ("started_at", "cancelled_at")),
    "plan_changes": ("plan_change_id", ("changed_at",)),
    "orders": ("order_id", ("ordered_at",)),
    "order_lines": ("order_line_id", ()),
    "sessions": ("session_id", ("started_at",)),
    "email_events": ("email_event_id", ("occurred_at",)),
    "support_tickets": ("ticket_id", ("opened_at", "escalated_at", "resolved_at")),
    "offers": ("offer_id", ("shown_at", "responded_at")),
    "consents": ("consent_event_id", ("recorded_at",)),
    "contract_exceptions": ("exception_id", ("starts_at", "ends_at")),
    # Its timestamps (and planted copies of a key) are checked in test_campaign_history.
    "campaign_exposures": ("campaign_exposure_id", ()),
}


def key_text(value: object) -> str | None:
    """A key as quarantine.quarantined_rows.record_key spells it (None for a null key)."""
    return None if value is None or pd.isna(value) else str(int(value))


def na_to_none(value: object) -> object:
    """pandas' missing markers (NaN, NA, NaT) as None, so values compare with ==."""
    return None if value is None or pd.isna(value) else value


def clean_email(value: object) -> str | None:
    """What staging makes of a raw email: trimmed, lowercase, empty -> null."""
    if value is None or pd.isna(value):
        return None
    cleaned = str(value).strip().lower()
    return cleaned or None


def newest_raw_customers(raw: pd.DataFrame, utc) -> pd.DataFrame:
    """Per customer_id, the raw record with the newest updated_at instant (UTC)."""
    raw = raw[raw["customer_id"].notna()].copy()
    raw["updated_utc"] = raw["updated_at"].map(utc)
    raw = raw.sort_values(["customer_id", "updated_utc"])
    assert not raw.duplicated(["customer_id", "updated_utc"]).any(), "tie in updated_at"
    newest = raw.groupby("customer_id").tail(1)
    return newest.set_index(newest["customer_id"].astype("int64"))


def ntile(count: int, buckets: int) -> list[int]:
    """SQL ntile(buckets) over count ordered rows: the first count % buckets groups are larger."""
    size, larger = divmod(count, buckets)
    result = []
    for index in range(count):
        if index < larger * (size + 1):
            result.append(index // (size + 1) + 1)
        else:
            result.append(larger + (index - larger * (size + 1)) // size + 1)
    return result


def md5_control(customer_id: int, campaign_id: str, holdout_percent: float) -> bool:
    """The documented holdout rule: md5 of "customer:campaign", first 32 bits, mod 10,000."""
    digest = hashlib.md5(f"{customer_id}:{campaign_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 10_000 < holdout_percent * 100


def timestamps_equal(expected: pd.Series, actual: pd.Series) -> pd.Series:
    """Element-wise equality of two timestamp series where NaT equals NaT."""
    expected = expected.astype("datetime64[us]")
    actual = actual.astype("datetime64[us]")
    return (expected == actual) | (expected.isna() & actual.isna())


# ------------------------------------------------------------------------------------------
# 1. Reconciliation and cleaning
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(RAW_TABLES))
def test_raw_rows_equal_clean_rows_plus_quarantined_rows(built, dbt, table):
    key = RAW_TABLES[table][0]
    raw = dbt.raw(built.raw_dir, table)
    clean = dbt.query(built.warehouse, f"select {key} from marts.{table}")
    quarantined = dbt.query(
        built.warehouse,
        "select record_key, quarantine_reason, record_json from quarantine.quarantined_rows "
        "where source_table = ?",
        [table],
    )
    assert len(raw) > 0
    assert len(raw) == len(clean) + len(quarantined), (len(raw), len(clean), len(quarantined))

    summary = dbt.rows(
        built.warehouse,
        "select raw_rows, clean_rows, quarantined_rows from quarantine.data_quality_summary "
        "where source_table = ?",
        [table],
    )
    assert summary == [(len(raw), len(clean), len(quarantined))]

    # Not only the counts: the keys that arrived are exactly the keys that came out.
    raw_keys = Counter(key_text(value) for value in raw[key])
    out_keys = Counter(key_text(value) for value in clean[key])
    out_keys.update(None if pd.isna(value) else value for value in quarantined["record_key"])
    assert raw_keys == out_keys

    assert quarantined["quarantine_reason"].notna().all()
    for record_key, record_json in zip(
        quarantined["record_key"], quarantined["record_json"], strict=True
    ):
        record = json.loads(record_json)
        assert key_text(record[key]) == (None if pd.isna(record_key) else record_key)
        assert record["quarantine_reason"] is not None


def test_duplicate_customers_keep_the_record_with_the_newest_updated_at(built, dbt, utc):
    raw = dbt.raw(built.raw_dir, "customers")
    raw = raw[raw["customer_id"].notna()].copy()
    raw["updated_utc"] = raw["updated_at"].map(utc)
    per_id = raw["customer_id"].value_counts()
    duplicated_ids = sorted(int(i) for i in per_id[per_id > 1].index)
    assert len(duplicated_ids) >= 5, "the generator plants duplicate customer records"

    newest = newest_raw_customers(raw, utc)
    mart = dbt.query(
        built.warehouse, "select customer_id, email, country_code, updated_at from marts.customers"
    ).set_index("customer_id")
    quarantined = dbt.query(
        built.warehouse,
        "select record_key, quarantine_reason, record_json from quarantine.quarantined_rows "
        "where source_table = 'customers'",
    )
    for customer_id in duplicated_ids:
        kept = newest.loc[customer_id]
        assert mart.loc[customer_id, "updated_at"] == kept["updated_utc"]
        assert na_to_none(mart.loc[customer_id, "email"]) == clean_email(kept["email"])
        assert mart.loc[customer_id, "country_code"] == kept["country_code"].strip().upper()
        superseded = quarantined[quarantined["record_key"] == str(customer_id)]
        assert len(superseded) == per_id[customer_id] - 1
        assert set(superseded["quarantine_reason"]) == {"duplicate_superseded_by_newer_record"}
        for record_json in superseded["record_json"]:
            older = datetime.fromisoformat(json.loads(record_json)["updated_at"])
            assert older < kept["updated_utc"]
    superseded_keys = set(
        quarantined.loc[
            quarantined["quarantine_reason"] == "duplicate_superseded_by_newer_record",
            "record_key",
        ]
    )
    assert superseded_keys == {str(i) for i in duplicated_ids}


def test_test_accounts_are_quarantined_as_test_account(built, dbt):
    raw = dbt.raw(built.raw_dir, "customers")
    is_test = raw["email"].map(lambda e: (clean_email(e) or "").endswith("@test.invalid"))
    test_ids = {key_text(i) for i in raw.loc[is_test & raw["customer_id"].notna(), "customer_id"]}
    assert test_ids, "the generator plants test accounts"
    quarantined = dict(
        dbt.rows(
            built.warehouse,
            "select record_key, quarantine_reason from quarantine.quarantined_rows "
            "where source_table = 'customers' and quarantine_reason = 'test_account'",
        )
    )
    assert set(quarantined) == test_ids
    clean_ids = {
        str(row[0]) for row in dbt.rows(built.warehouse, "select customer_id from marts.customers")
    }
    assert not test_ids & clean_ids
    assert (
        dbt.scalar(
            built.warehouse,
            "select count(*) from marts.customers where email like '%@test.invalid'",
        )
        == 0
    )


def test_orphan_orders_are_quarantined_as_orphan_customer_id(built, dbt):
    raw_orders = dbt.raw(built.raw_dir, "orders")
    raw_customer_ids = set(dbt.raw(built.raw_dir, "customers")["customer_id"].dropna().astype(int))
    has_customer = raw_orders["customer_id"].notna()
    orphans = raw_orders[
        has_customer & ~raw_orders["customer_id"].fillna(-1).astype(int).isin(raw_customer_ids)
    ]
    assert len(orphans) > 0, "the generator plants orders of customers that do not exist"
    reasons = dict(
        dbt.rows(
            built.warehouse,
            "select record_key, quarantine_reason from quarantine.quarantined_rows "
            "where source_table = 'orders'",
        )
    )
    for order_id in orphans["order_id"]:
        assert reasons.get(str(int(order_id))) == "orphan_customer_id", order_id

    # And the other way round: clean orders belong to clean customers, orphans do not.
    assert (
        dbt.scalar(
            built.warehouse,
            "select count(*) from marts.orders "
            "where customer_id not in (select customer_id from marts.customers)",
        )
        == 0
    )
    orphan_reason_customers = dbt.rows(
        built.warehouse,
        "select count(*), count(*) filter (where cast(json_extract(record_json, '$.customer_id')"
        " as bigint) in (select customer_id from marts.customers)) "
        "from quarantine.quarantined_rows "
        "where source_table = 'orders' and quarantine_reason = 'orphan_customer_id'",
    )
    assert orphan_reason_customers[0][0] >= len(orphans)
    assert orphan_reason_customers[0][1] == 0


def test_customer_emails_are_lowercase_trimmed_and_from_the_newest_record(built, dbt, utc):
    raw = dbt.raw(built.raw_dir, "customers")
    messy = raw["email"].dropna().map(lambda e: e != e.strip().lower())
    assert messy.sum() > 0, "the generator plants mixed-case and padded emails"

    mart = dbt.query(built.warehouse, "select customer_id, email from marts.customers")
    emails = mart["email"].dropna()
    assert len(emails) > 0.95 * len(mart)
    bad = emails[emails.map(lambda e: e != e.strip().lower() or e == "")]
    assert bad.empty, bad.head().tolist()

    newest = newest_raw_customers(raw, utc)
    expected = [clean_email(e) for e in newest.loc[mart["customer_id"], "email"]]
    assert [na_to_none(e) for e in mart["email"]] == expected


@pytest.mark.parametrize("table", [table for table, (_, columns) in RAW_TABLES.items() if columns])
def test_mart_timestamps_are_the_utc_instants_of_the_raw_strings(built, dbt, utc, table):
    key, columns = RAW_TABLES[table]
    raw = dbt.raw(built.raw_dir, table)
    if table == "customers":
        raw = newest_raw_customers(raw, utc)
    else:
        raw = raw[raw[key].notna()]
        assert raw[key].is_unique
        raw = raw.set_index(raw[key].astype("int64"))
    mart = dbt.query(
        built.warehouse, f"select {key}, {', '.join(columns)} from marts.{table}"
    ).set_index(key)
    assert len(mart) > 0
    raw = raw.loc[mart.index]

    for column in columns:
        texts = raw[column]
        assert texts.dropna().map(lambda t: not t.endswith("+00:00")).any()
        expected = pd.Series(
            [utc(None if pd.isna(text) else text) for text in texts],
            index=mart.index,
            dtype="datetime64[us]",
        )
        equal = timestamps_equal(expected, mart[column])
        assert equal.all(), (
            f"{table}.{column}: first mismatches (raw, expected, got): "
            f"{texts[~equal][:3].tolist()}, {expected[~equal][:3].tolist()}, "
            f"{mart[column][~equal][:3].tolist()}"
        )


def test_offsets_move_orders_across_utc_day_boundaries(built, dbt, utc):
    """The timestamp checks above are meaningful: many local dates differ from the UTC date."""
    orders = dbt.query(
        built.warehouse, "select order_id, cast(ordered_at as date) as day from marts.orders"
    ).set_index("order_id")
    raw = dbt.raw(built.raw_dir, "orders").dropna(subset=["order_id"])
    raw = raw.set_index(raw["order_id"].astype("int64")).loc[orders.index]
    local_day = raw["ordered_at"].str[:10]
    utc_day = orders["day"].astype("datetime64[us]").dt.strftime("%Y-%m-%d")
    shifted = (local_day != utc_day).sum()
    assert shifted > 0.05 * len(orders)
    expected_day = raw["ordered_at"].map(lambda t: utc(t).date().isoformat())
    assert (expected_day == utc_day).all()


def test_snapshot_grid_is_monthly_and_ends_at_the_default_as_of_date(built, dbt):
    snapshots = dbt.rows(
        built.warehouse,
        "select snapshot_date, period_start_date, is_as_of_snapshot, as_of_date "
        "from intermediate.int_snapshot_dates order by snapshot_date",
    )
    newest_order = dbt.scalar(built.warehouse, "select max(ordered_at) from marts.orders")
    default_as_of = (newest_order.replace(day=1) + timedelta(days=32)).replace(day=1).date()
    assert default_as_of == GENERATOR_END_DATE
    end_month = GENERATOR_END_DATE.year * 12 + GENERATOR_END_DATE.month - 1
    expected_dates = [date(m // 12, m % 12 + 1, 1) for m in range(end_month - 23, end_month + 1)]
    assert [row[0] for row in snapshots] == expected_dates
    assert [row[1] for row in snapshots] == [date(1900, 1, 1), *expected_dates[:-1]]
    assert [row[2] for row in snapshots] == [False] * 23 + [True]
    assert {row[3] for row in snapshots} == {GENERATOR_END_DATE}


# ------------------------------------------------------------------------------------------
# 7. Audiences
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audience_inputs(built, dbt):
    """Everything the audience checks recompute from, read once."""
    warehouse = built.warehouse
    as_of = dbt.scalar(warehouse, "select as_of_date from intermediate.int_snapshot_dates limit 1")
    return {
        "as_of": datetime.combine(as_of, datetime.min.time()),
        "as_of_date": as_of,
        "audiences": dbt.query(warehouse, "select * from audiences.campaign_audiences"),
        # One score per task and customer (audience_scores), what campaigns select from.
        "scores": dbt.query(warehouse, "select * from audiences.audience_scores"),
        "values": dbt.query(warehouse, "select * from ml.customer_predicted_values"),
        "suppressions": dbt.query(warehouse, "select * from audiences.campaign_suppressions"),
        "campaigns": dbt.query(warehouse, "select * from config.campaigns").set_index(
            "campaign_id"
        ),
        "rules": dbt.query(
            warehouse, "select * from config.next_best_action_rules order by rule_priority"
        ),
        "features": dbt.query(
            warehouse,
            "select customer_id, days_since_last_order, average_order_value, "
            "last_order_category from marts.customer_feature_snapshots "
            "where snapshot_date = ?",
            [as_of],
        ).set_index("customer_id"),
        "consents": dbt.query(warehouse, "select * from marts.consents"),
        "tickets": dbt.query(warehouse, "select * from marts.support_tickets"),
        "exceptions": dbt.query(warehouse, "select * from marts.contract_exceptions"),
        "emails": dbt.query(warehouse, "select customer_id, email from marts.customers").set_index(
            "customer_id"
        )["email"],
        "newest_models": dict(
            dbt.rows(
                warehouse,
                "select task, arg_max(model_version, trained_at) from ml.model_registry "
                "group by task",
            )
        ),
    }


def task_scores(audience_inputs: dict, campaign_id: str) -> pd.DataFrame:
    """The scores a campaign selects from: its task's rows of audience_scores."""
    task = audience_inputs["campaigns"].loc[campaign_id, "task"]
    scores = audience_inputs["scores"]
    return scores[scores["task"] == task]


def conversion_values(audience_inputs: dict, campaign: pd.Series, scores: pd.DataFrame):
    """Each candidate's value of a conversion, by the campaign's value_source."""
    fixed = float(campaign["value_per_conversion"])
    source = campaign["value_source"]
    if source == "fixed":
        return pd.Series(fixed, index=scores.index)
    if source == "product_price":
        return scores["item_value"].fillna(fixed)
    values = audience_inputs["values"]
    predicted = values[values["task"] == source].set_index("customer_id")["predicted_value"]
    return scores["customer_id"].map(predicted).fillna(fixed)


def opted_out_customers(consents: pd.DataFrame, as_of: datetime) -> set[int]:
    """Customers whose newest consent event per channel before as_of is an opt-out."""
    before = consents[consents["recorded_at"] < as_of]
    newest = (
        before.sort_values(["recorded_at", "consent_event_id"])
        .groupby(["customer_id", "channel"])
        .tail(1)
    )
    return set(newest.loc[newest["consent_status"] == "opted_out", "customer_id"].astype(int))


def test_audiences_hold_one_row_per_customer_and_campaign(audience_inputs):
    audiences = audience_inputs["audiences"]
    campaigns = audience_inputs["campaigns"]
    assert len(audiences) > 0
    assert not audiences.duplicated(["customer_id", "campaign_id"]).any()
    active = set(campaigns.index[campaigns["is_active"]])
    assert set(audiences["campaign_id"]) == active
    assert set(audiences["snapshot_date"].dt.date) == {audience_inputs["as_of_date"]}
    for campaign_id, rows in audiences.groupby("campaign_id"):
        task = campaigns.loc[campaign_id, "task"]
        assert set(rows["model_version"]) == {audience_inputs["newest_models"][task]}
        scores = task_scores(audience_inputs, campaign_id).set_index("customer_id")["score"]
        assert np.array_equal(rows["score"].to_numpy(), scores.loc[rows["customer_id"]].to_numpy())


def test_scores_deciles_and_bands(audience_inputs):
    audiences = audience_inputs["audiences"]
    assert audiences["score"].between(0, 1).all()
    assert set(audiences["decile"]) <= set(range(1, 11))
    for campaign_id, rows in audiences.groupby("campaign_id"):
        scores = task_scores(audience_inputs, campaign_id)
        # A probability; an uplift task's score (predicted uplift) may be negative.
        low = -1 if campaign_id == "upsell_persuadables_dec" else 0
        assert scores["score"].between(low, 1).all()
        ordered = scores.sort_values(["score", "customer_id"], ascending=[False, True])
        expected = pd.Series(ntile(len(ordered), 10), index=ordered["customer_id"].to_numpy())
        assert (rows["decile"].to_numpy() == expected.loc[rows["customer_id"]]).all()
    expected_band = np.where(
        audiences["decile"] <= 2, "high", np.where(audiences["decile"] <= 5, "medium", "low")
    )
    assert (audiences["band"].to_numpy() == expected_band).all()
    # Deciles never invert the score order (ties, e.g. an uplift task whose calibrated score is
    # the constant average effect, broken by customer_id as the audiences rank).
    for _, campaign in audiences.groupby("campaign_id"):
        by_score = campaign.sort_values(["score", "customer_id"], ascending=[False, True])
        assert by_score["decile"].is_monotonic_increasing


def test_suppressed_customers_never_reach_their_campaign_audience(audience_inputs):
    suppressions = audience_inputs["suppressions"]
    audiences = audience_inputs["audiences"]
    assert len(suppressions) > 0
    overlap = audiences.merge(suppressions, on=["campaign_id", "customer_id"])
    assert overlap.empty, overlap.head()


def test_suppression_log_matches_the_rules_recomputed_in_python(audience_inputs):
    as_of = audience_inputs["as_of"]
    tickets = audience_inputs["tickets"]
    exceptions = audience_inputs["exceptions"]
    reasons: dict[str, set[int]] = {
        "opted_out": opted_out_customers(audience_inputs["consents"], as_of),
        "recent_support_contact": set(
            tickets.loc[
                (tickets["opened_at"] < as_of)
                & (tickets["opened_at"] >= as_of - timedelta(days=14)),
                "customer_id",
            ]
        ),
        "open_support_case": set(
            tickets.loc[
                (tickets["opened_at"] < as_of)
                & (tickets["resolved_at"].isna() | (tickets["resolved_at"] >= as_of)),
                "customer_id",
            ]
        ),
        "contractual_exception": set(
            exceptions.loc[
                (exceptions["starts_at"] < as_of)
                & (exceptions["ends_at"].isna() | (exceptions["ends_at"] >= as_of)),
                "customer_id",
            ]
        ),
    }
    no_email = set(audience_inputs["emails"].index[audience_inputs["emails"].isna()])
    campaigns = audience_inputs["campaigns"]
    expected = set()
    for campaign_id, campaign in campaigns[campaigns["is_active"]].iterrows():
        scored = set(task_scores(audience_inputs, campaign_id)["customer_id"])
        for reason, customers in reasons.items():
            expected |= {(campaign_id, c, reason) for c in customers & scored}
        if campaign["channel"] == "email":
            expected |= {(campaign_id, c, "no_email_address") for c in no_email & scored}
    suppressions = audience_inputs["suppressions"]
    actual = set(
        zip(
            suppressions["campaign_id"],
            suppressions["customer_id"],
            suppressions["suppression_reason"],
            strict=True,
        )
    )
    assert actual == expected
    assert {reason for _, _, reason in expected} >= {"opted_out", "open_support_case"}


def test_no_customer_with_an_opt_out_in_force_is_in_any_audience(audience_inputs):
    opted_out = opted_out_customers(audience_inputs["consents"], audience_inputs["as_of"])
    scored = set(audience_inputs["scores"]["customer_id"])  # of every campaign task
    assert opted_out & scored, "some scored customers have opted out (else this proves nothing)"
    in_audiences = set(audience_inputs["audiences"]["customer_id"])
    assert not opted_out & in_audiences


def test_control_group_is_the_md5_rule_and_close_to_the_holdout_percent(audience_inputs):
    audiences = audience_inputs["audiences"]
    campaigns = audience_inputs["campaigns"]
    for campaign_id, rows in audiences.groupby("campaign_id"):
        holdout = float(campaigns.loc[campaign_id, "holdout_percent"])
        expected = [
            "control" if md5_control(int(c), campaign_id, holdout) else "treatment"
            for c in rows["customer_id"]
        ]
        assert rows["experiment_group"].tolist() == expected, campaign_id
        share, size = holdout / 100, len(rows)
        controls = int((rows["experiment_group"] == "control").sum())
        tolerance = 4 * math.sqrt(size * share * (1 - share)) + 1
        assert abs(controls - size * share) <= tolerance, (campaign_id, controls, size, share)
    # Across every scored customer (not only the selected), the hash rule hits the target share.
    for campaign_id, campaign in campaigns.iterrows():
        scored = task_scores(audience_inputs, campaign_id)["customer_id"]
        share = float(campaign["holdout_percent"]) / 100
        hits = sum(md5_control(int(c), campaign_id, share * 100) for c in scored)
        tolerance = 4 * math.sqrt(len(scored) * share * (1 - share))
        assert abs(hits - len(scored) * share) <= tolerance


def test_audience_membership_and_rank_follow_the_audience_rule(audience_inputs):
    audiences = audience_inputs["audiences"]
    suppressions = audience_inputs["suppressions"]
    campaigns = audience_inputs["campaigns"]
    rank_orders = Counter()
    for campaign_id, campaign in campaigns[campaigns["is_active"]].iterrows():
        suppressed = set(
            suppressions.loc[suppressions["campaign_id"] == campaign_id, "customer_id"]
        )
        scores = task_scores(audience_inputs, campaign_id)
        candidates = scores[~scores["customer_id"].isin(suppressed)].copy()
        candidates["expected_value"] = candidates["score"] * conversion_values(
            audience_inputs, campaign, candidates
        )
        rank_by = "expected_value" if campaign["rank_by"] == "expected_value" else "score"
        rank_orders[rank_by] += 1
        candidates = candidates.sort_values([rank_by, "customer_id"], ascending=[False, True])
        candidates = candidates.assign(rank=np.arange(1, len(candidates) + 1))
        rule, value = campaign["audience_rule"], float(campaign["audience_rule_value"])
        profit = (
            candidates["expected_value"] * campaign["margin_rate"] - campaign["cost_per_contact"]
        )
        if rule == "top_percent":
            selected = candidates[candidates["rank"] <= math.ceil(len(candidates) * value / 100)]
        elif rule == "top_n":
            selected = candidates[candidates["rank"] <= value]
        elif rule == "min_score":
            selected = candidates[candidates["score"] >= value]
        elif rule == "max_profit":
            selected = candidates[profit > 0]
        else:
            assert rule == "all"
            selected = candidates
        if not pd.isna(campaign["max_contacts"]):
            selected = selected[selected["rank"] <= campaign["max_contacts"]]
        assert len(selected) > 0, campaign_id
        actual = audiences[audiences["campaign_id"] == campaign_id].sort_values("audience_rank")
        assert actual["customer_id"].tolist() == selected["customer_id"].tolist(), campaign_id
        assert actual["audience_rank"].tolist() == selected["rank"].tolist(), campaign_id
        np.testing.assert_allclose(
            actual["expected_profit"], profit.loc[selected.index], rtol=1e-12, atol=1e-9
        )
    assert set(rank_orders) == {"score", "expected_value"}, "both orders are exercised"


def test_next_best_action_matches_the_rules_recomputed_in_python(audience_inputs):
    audiences = audience_inputs["audiences"]
    features = audience_inputs["features"]
    rules = audience_inputs["rules"]
    campaigns = audience_inputs["campaigns"]

    aov = features["average_order_value"].dropna()
    top_share = aov.map(lambda value: (aov >= value).sum() / len(aov))
    high_value = (top_share <= 0.2).reindex(features.index, fill_value=False)

    def lifecycle(days: object) -> str:
        if days is None or pd.isna(days):
            return "no_purchase"
        if days <= 30:
            return "active"
        if days < 60:
            return "cooling"
        return "at_risk" if days <= 90 else "dormant"

    def matches(rule: pd.Series, row: pd.Series, segment: str, is_high_value: bool) -> bool:
        def given(name: str) -> bool:
            return rule[name] is not None and not pd.isna(rule[name])

        return (
            rule["task"] == campaigns.loc[row["campaign_id"], "task"]
            and (not given("lifecycle_segment") or rule["lifecycle_segment"] == segment)
            and (not given("is_high_value") or bool(rule["is_high_value"]) == is_high_value)
            and (not given("min_decile") or row["decile"] >= rule["min_decile"])
            and (not given("max_decile") or row["decile"] <= rule["max_decile"])
            and (not given("band") or rule["band"] == row["band"])
        )

    matched_rules = Counter()
    for _, row in audiences.iterrows():
        customer = int(row["customer_id"])
        segment = lifecycle(features.loc[customer, "days_since_last_order"])
        is_high_value = bool(high_value.loc[customer])
        assert row["lifecycle_segment"] == segment, customer
        assert bool(row["is_high_value"]) == is_high_value, customer
        winner = next(
            (rule for _, rule in rules.iterrows() if matches(rule, row, segment, is_high_value)),
            None,
        )
        if winner is None:
            assert row["next_best_action"] == "no_rule_matched"
            assert row["action_channel"] == campaigns.loc[row["campaign_id"], "channel"]
            assert pd.isna(row["next_best_action_rule"])
            continue
        matched_rules[int(winner["rule_priority"])] += 1
        assert row["next_best_action"] == winner["next_best_action"], customer
        assert row["action_channel"] == winner["action_channel"], customer
        assert int(row["next_best_action_rule"]) == int(winner["rule_priority"]), customer
        category = features.loc[customer, "last_order_category"]
        scores = task_scores(audience_inputs, row["campaign_id"]).set_index("customer_id")
        if winner["next_best_action"] == "upgrade_with_addon":
            assert row["recommended_addon_category"] == category
        elif pd.isna(scores.loc[customer, "recommended_category"]):
            assert pd.isna(row["recommended_addon_category"])
        else:
            assert row["recommended_addon_category"] == scores.loc[customer, "recommended_category"]
    assert len(matched_rules) >= 3, matched_rules


# ------------------------------------------------------------------------------------------
# Determinism, model lifecycle and model mismatch (these run dbt again on copies)
# ------------------------------------------------------------------------------------------


def test_rebuild_from_the_same_raw_data_gives_identical_audiences(built, dbt, tmp_path):
    """A fresh warehouse built from the same raw data gives the same audiences, bit for bit.

    Money is summed as exact decimals and training rows are read in a fixed order, so the
    refitted model is the same ONNX file and every score is identical.
    """
    warehouse = tmp_path / "rebuild.duckdb"
    dbt.run(
        ["build"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={"model_dir": str(tmp_path / "models")},
    )
    order = "order by campaign_id, customer_id"
    first = dbt.query(built.warehouse, f"select * from audiences.campaign_audiences {order}")
    second = dbt.query(warehouse, f"select * from audiences.campaign_audiences {order}")
    assert len(first) > 0
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    registry = (
        "select model_version, model_family, feature_columns, onnx_sha256 from ml.model_registry"
    )
    assert dbt.rows(built.warehouse, registry) == dbt.rows(warehouse, registry)
    suppressions = "select * from audiences.campaign_suppressions order by all"
    assert dbt.rows(built.warehouse, suppressions) == dbt.rows(warehouse, suppressions)


REGISTRY_SQL = (
    "select model_version, onnx_sha256 from ml.model_registry where task = 'upsell' "
    "order by trained_at"
)
EVERY_TASK_REGISTRY_SQL = "select model_version, onnx_sha256 from ml.model_registry order by 1"
SCORES_SQL = "select customer_id, score, model_version from ml.upsell_scores order by 1"
# The up-sell (propensity) campaigns' versions; the persuadables campaign scores with upsell_uplift.
AUDIENCE_VERSIONS_SQL = (
    "select distinct audiences.model_version from audiences.campaign_audiences as audiences "
    "inner join config.campaigns as campaigns using (campaign_id) where campaigns.task = 'upsell'"
)


def test_second_build_reuses_the_registered_model(built, dbt, tmp_path):
    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "second.duckdb")
    original_registry = dbt.rows(built.warehouse, REGISTRY_SQL)
    every_task = dbt.rows(built.warehouse, EVERY_TASK_REGISTRY_SQL)
    original_scores = dbt.query(built.warehouse, SCORES_SQL)
    assert [row[0] for row in original_registry] == ["upsell-v1"]
    assert all(row[0].endswith("-v1") for row in every_task) and len(every_task) > 1

    dbt.run(
        ["build"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={"model_dir": str(tmp_path / "models")},
    )
    assert dbt.rows(warehouse, REGISTRY_SQL) == original_registry
    assert dbt.rows(warehouse, EVERY_TASK_REGISTRY_SQL) == every_task
    pd.testing.assert_frame_equal(dbt.query(warehouse, SCORES_SQL), original_scores)
    assert dbt.rows(warehouse, AUDIENCE_VERSIONS_SQL) == [("upsell-v1",)]
    assert not (tmp_path / "models").exists(), "nothing was trained, so no ONNX file was written"


def test_full_refresh_keeps_the_model_registry(built, dbt, tmp_path):
    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "refresh.duckdb")
    original_registry = dbt.rows(built.warehouse, REGISTRY_SQL)
    dbt.run(
        ["build", "--select", "model_registry+", "--full-refresh"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={"model_dir": str(tmp_path / "models")},
    )
    assert dbt.rows(warehouse, REGISTRY_SQL) == original_registry
    assert not (tmp_path / "models").exists(), "a full refresh must not retrain"


def test_retrain_registers_upsell_v2_and_pinning_brings_back_v1(built, dbt, tmp_path):
    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "retrain.duckdb")
    model_dir = tmp_path / "models"
    original_scores = dbt.query(built.warehouse, SCORES_SQL)
    dbt.run(
        ["build", "--select", "model_registry+"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={"model_dir": str(model_dir), "retrain": ["upsell"]},
    )
    registry = dbt.query(
        warehouse,
        "select model_version, onnx_path from ml.model_registry where task = 'upsell' "
        "order by trained_at",
    )
    # retrain names the tasks: the others keep their one version.
    assert dbt.scalar(
        warehouse, "select max(model_version) from ml.model_registry where task <> 'upsell'"
    ).endswith("-v1")
    assert registry["model_version"].tolist() == ["upsell-v1", "upsell-v2"]
    # Only the task retrain names is retrained: every other task keeps its one version.
    assert dbt.rows(
        warehouse, "select count(*) from ml.model_registry where task != 'upsell'"
    ) == dbt.rows(built.warehouse, "select count(*) from ml.model_registry where task != 'upsell'")
    assert registry["onnx_path"].iloc[1] == str(model_dir / "upsell" / "upsell-v2.onnx")
    assert (model_dir / "upsell" / "upsell-v2.onnx").exists()
    retrained = dbt.query(warehouse, SCORES_SQL)
    assert set(retrained["model_version"]) == {"upsell-v2"}
    assert retrained["customer_id"].tolist() == original_scores["customer_id"].tolist()
    assert dbt.rows(warehouse, AUDIENCE_VERSIONS_SQL) == [("upsell-v2",)]

    dbt.run(
        ["build", "--select", "upsell_scores+"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={"model_dir": str(model_dir), "model_versions": {"upsell": "upsell-v1"}},
    )
    pd.testing.assert_frame_equal(dbt.query(warehouse, SCORES_SQL), original_scores)
    assert dbt.rows(warehouse, AUDIENCE_VERSIONS_SQL) == [("upsell-v1",)]
    assert (
        len(dbt.rows(warehouse, REGISTRY_SQL)) == len(dbt.rows(built.warehouse, REGISTRY_SQL)) + 1
    )


def test_newest_model_scores_unless_a_version_is_pinned(built, dbt, tmp_path):
    """With a second registered version, scoring uses the newest; model_versions pins v1.

    The second version is registered by hand so that its scores are recognisable: v1's row
    with a later trained_at and scoring SQL that returns 1 - score.
    """
    import duckdb

    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "pin.duckdb")
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(
            """
            insert into ml.model_registry
            select * replace (
                'upsell-v2' as model_version,
                trained_at + interval 1 day as trained_at,
                'select customer_id, snapshot_date, 1.0 - score as score from ('
                    || scoring_sql || ') as v1_scores' as scoring_sql
            )
            from ml.model_registry
            where model_version = 'upsell-v1'
            """
        )
    original_scores = dbt.query(built.warehouse, SCORES_SQL)
    variables = {"model_dir": str(tmp_path / "models")}

    dbt.run(
        ["build", "--select", "upsell_scores+"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables=variables,
    )
    newest = dbt.query(warehouse, SCORES_SQL)
    assert set(newest["model_version"]) == {"upsell-v2"}
    assert np.allclose(newest["score"], 1.0 - original_scores["score"], rtol=0, atol=1e-12)
    assert dbt.rows(warehouse, AUDIENCE_VERSIONS_SQL) == [("upsell-v2",)]

    dbt.run(
        ["build", "--select", "upsell_scores+"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={**variables, "model_versions": {"upsell": "upsell-v1"}},
    )
    pd.testing.assert_frame_equal(dbt.query(warehouse, SCORES_SQL), original_scores)
    assert dbt.rows(warehouse, AUDIENCE_VERSIONS_SQL) == [("upsell-v1",)]
    assert (
        len(dbt.rows(warehouse, REGISTRY_SQL)) == len(dbt.rows(built.warehouse, REGISTRY_SQL)) + 1
    )


def test_pinning_an_unknown_model_version_fails_and_names_it(built, dbt, tmp_path):
    from propensity.pipeline import DbtRunError

    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "pin.duckdb")
    work = tmp_path / "dbt"
    with pytest.raises(DbtRunError):
        dbt.run(
            ["build", "--select", "upsell_scores"],
            warehouse=warehouse,
            raw_dir=built.raw_dir,
            variables={
                "model_dir": str(tmp_path / "models"),
                "model_versions": {"upsell": "upsell-v9"},
            },
            work_dir=work,
        )
    log = (work / "logs" / "dbt.log").read_text(errors="replace")
    assert "Task upsell is set to upsell-v9 (var model_versions" in log
    assert "which is not in the model registry" in log


def break_the_newest_model(built, dbt, tmp_path):
    """A copy of the warehouse whose newest registry row needs a column that does not exist."""
    import duckdb

    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "mismatch.duckdb")
    with duckdb.connect(str(warehouse)) as connection:
        version, columns = connection.execute(
            "select model_version, feature_columns from ml.model_registry "
            "where task = 'upsell' order by trained_at desc, model_version desc limit 1"
        ).fetchone()
        connection.execute(
            "update ml.model_registry set feature_columns = ? where model_version = ?",
            [json.dumps([*json.loads(columns), "no_such_feature"]), version],
        )
    return warehouse, version


def run_scores_expecting_failure(built, dbt, tmp_path, warehouse):
    from propensity.pipeline import DbtRunError

    work = tmp_path / "dbt"
    with pytest.raises(DbtRunError) as failure:
        dbt.run(
            ["build", "--select", "upsell_scores"],
            warehouse=warehouse,
            raw_dir=built.raw_dir,
            variables={"model_dir": str(tmp_path / "models")},
            work_dir=work,
        )
    return failure.value, (work / "logs" / "dbt.log").read_text(errors="replace")


def test_model_mismatch_fails_naming_the_missing_column(built, dbt, tmp_path):
    warehouse, version = break_the_newest_model(built, dbt, tmp_path)
    before = dbt.query(warehouse, "select * from ml.upsell_scores order by customer_id")
    _, log = run_scores_expecting_failure(built, dbt, tmp_path, warehouse)
    assert f"Model {version} needs feature columns missing from" in log
    assert "no_such_feature" in log
    # The failed model left the previous scores as they were.
    after = dbt.query(warehouse, "select * from ml.upsell_scores order by customer_id")
    pd.testing.assert_frame_equal(before, after)


def test_model_mismatch_error_message_names_the_missing_column(built, dbt, tmp_path):
    warehouse, _ = break_the_newest_model(built, dbt, tmp_path)
    error, _ = run_scores_expecting_failure(built, dbt, tmp_path, warehouse)
    assert "no_such_feature" in str(error)
