"""Value-level tests of the demo data generator (propensity.generate)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from propensity.generate import ID_STRIDE, GenerationSummary, format_timestamps, generate

CUSTOMERS = 5_000
SEED = 11
CHUNK = 2_000  # three chunks: exercises id offsets across part files
WINDOW_START = "2024-11-01 00:00:00+00:00"
WINDOW_END = "2026-11-01 00:00:00+00:00"

EXPECTED_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "customers": [
        ("customer_id", "BIGINT"), ("email", "VARCHAR"), ("first_name", "VARCHAR"),
        ("last_name", "VARCHAR"), ("phone", "VARCHAR"), ("country_code", "VARCHAR"),
        ("region", "VARCHAR"), ("acquisition_channel", "VARCHAR"),
        ("signed_up_at", "VARCHAR"), ("updated_at", "VARCHAR"),
    ],
    "products": [
        ("product_id", "BIGINT"), ("product_name", "VARCHAR"), ("category", "VARCHAR"),
        ("price_tier", "VARCHAR"), ("list_price", "DOUBLE"),
    ],
    "subscriptions": [
        ("subscription_id", "BIGINT"), ("customer_id", "BIGINT"), ("initial_plan", "VARCHAR"),
        ("started_at", "VARCHAR"), ("cancelled_at", "VARCHAR"),
    ],
    "plan_changes": [
        ("plan_change_id", "BIGINT"), ("subscription_id", "BIGINT"), ("changed_at", "VARCHAR"),
        ("from_plan", "VARCHAR"), ("to_plan", "VARCHAR"),
    ],
    "orders": [
        ("order_id", "BIGINT"), ("customer_id", "BIGINT"), ("ordered_at", "VARCHAR"),
        ("order_status", "VARCHAR"), ("sales_channel", "VARCHAR"),
    ],
    "order_lines": [
        ("order_line_id", "BIGINT"), ("order_id", "BIGINT"), ("product_id", "BIGINT"),
        ("quantity", "INTEGER"), ("unit_price", "DOUBLE"), ("discount_amount", "DOUBLE"),
    ],
    "sessions": [
        ("session_id", "BIGINT"), ("customer_id", "BIGINT"), ("started_at", "VARCHAR"),
        ("device", "VARCHAR"), ("page_views", "INTEGER"), ("product_clicks", "INTEGER"),
        ("duration_seconds", "INTEGER"),
    ],
    "email_events": [
        ("email_event_id", "BIGINT"), ("customer_id", "BIGINT"),
        ("email_campaign_code", "VARCHAR"), ("event_type", "VARCHAR"),
        ("occurred_at", "VARCHAR"),
    ],
    "support_tickets": [
        ("ticket_id", "BIGINT"), ("customer_id", "BIGINT"), ("opened_at", "VARCHAR"),
        ("escalated_at", "VARCHAR"), ("resolved_at", "VARCHAR"), ("priority", "VARCHAR"),
        ("topic", "VARCHAR"),
    ],
    "offers": [
        ("offer_id", "BIGINT"), ("customer_id", "BIGINT"), ("offer_type", "VARCHAR"),
        ("channel", "VARCHAR"), ("shown_at", "VARCHAR"), ("responded_at", "VARCHAR"),
        ("response", "VARCHAR"),
    ],
    "consents": [
        ("consent_event_id", "BIGINT"), ("customer_id", "BIGINT"), ("channel", "VARCHAR"),
        ("consent_status", "VARCHAR"), ("recorded_at", "VARCHAR"),
    ],
    "contract_exceptions": [
        ("exception_id", "BIGINT"), ("customer_id", "BIGINT"), ("exception_reason", "VARCHAR"),
        ("starts_at", "VARCHAR"), ("ends_at", "VARCHAR"),
    ],
    "leads": [
        ("lead_id", "BIGINT"), ("email", "VARCHAR"), ("phone", "VARCHAR"),
        ("first_name", "VARCHAR"), ("last_name", "VARCHAR"), ("country_code", "VARCHAR"),
        ("region", "VARCHAR"), ("lead_source", "VARCHAR"), ("company_size", "VARCHAR"),
        ("industry", "VARCHAR"), ("job_role", "VARCHAR"), ("has_marketing_consent", "BOOLEAN"),
        ("created_at", "VARCHAR"), ("converted_at", "VARCHAR"), ("updated_at", "VARCHAR"),
    ],
    "lead_activities": [
        ("lead_activity_id", "BIGINT"), ("lead_id", "BIGINT"), ("activity_at", "VARCHAR"),
        ("activity_type", "VARCHAR"),
    ],
    "campaign_exposures": [
        ("campaign_exposure_id", "BIGINT"), ("campaign_id", "VARCHAR"), ("customer_id", "BIGINT"),
        ("experiment_group", "VARCHAR"), ("assigned_at", "VARCHAR"), ("sent_at", "VARCHAR"),
        ("channel", "VARCHAR"),
    ],
}  # fmt: skip
ID_COLUMNS = {
    "subscriptions": "subscription_id",
    "plan_changes": "plan_change_id",
    "orders": "order_id",
    "order_lines": "order_line_id",
    "sessions": "session_id",
    "email_events": "email_event_id",
    "support_tickets": "ticket_id",
    "offers": "offer_id",
    "consents": "consent_event_id",
    "contract_exceptions": "exception_id",
    "products": "product_id",
    "lead_activities": "lead_activity_id",
}
# timestamp columns whose instants may precede the window (the initial base's sign-up history)
PRE_WINDOW_OK = {
    ("customers", "signed_up_at"),
    ("subscriptions", "started_at"),
    ("consents", "recorded_at"),
    ("leads", "created_at"),  # the backlog of leads open at the window start
}
LEAD_CHUNK_SIZES = [3_000, 3_000, 1_500]  # 1.5 leads per customer of each chunk
FREE_MAIL = "('gmail.com', 'outlook.com', 'yahoo.com', 'proton.me', 'icloud.com', 'gmx.de')"
VALID_EMAIL = "(e like '_%@_%._%' and e not like '%@%@%' and e not like '% %')"
PLAN_RANK = "case {c} when 'basic' then 0 when 'plus' then 1 when 'pro' then 2 end"


@dataclass
class Generated:
    summary: GenerationSummary
    con: duckdb.DuckDBPyConnection

    def one(self, sql: str) -> tuple:
        row = self.con.execute(sql).fetchone()
        assert row is not None
        return row

    def scalar(self, sql: str) -> object:
        return self.one(sql)[0]


def _connect(out_dir: Path, truth_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    for table in EXPECTED_COLUMNS:
        con.execute(f"create view {table} as select * from read_parquet('{out_dir}/{table}/*')")
    con.execute(f"create view truth as select * from read_parquet('{truth_path}')")
    acquisition = truth_path.with_name("acquisition_truth.parquet")
    con.execute(f"create view acquisition_truth as select * from read_parquet('{acquisition}')")
    return con


def _ts_columns(table: str) -> list[str]:
    return [c for c, _ in EXPECTED_COLUMNS[table] if c.endswith("_at")]


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
    }


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    root = tmp_path_factory.mktemp("gen")
    summary = generate(root / "raw", CUSTOMERS, SEED, chunk_size=CHUNK, workers=1)
    return Generated(summary, _connect(summary.out_dir, summary.truth_path))


# ---------------------------------------------------------------------------------------------
# Determinism and layout
# ---------------------------------------------------------------------------------------------
def test_same_seed_is_byte_identical_and_other_seed_differs(gen: Generated, tmp_path: Path) -> None:
    # same seed, run in two worker processes instead of one: identical bytes in every file
    again = generate(tmp_path / "a" / "raw", CUSTOMERS, SEED, chunk_size=CHUNK, workers=2)
    first = _digest(gen.summary.out_dir.parent)
    assert len(first) == 14 * 3 + 1 + 3  # 14 chunked tables x 3 parts, products, 3 truths
    assert _digest(again.out_dir.parent) == first
    assert again.row_counts == gen.summary.row_counts
    assert again.observed_upsell_rate == gen.summary.observed_upsell_rate

    other = generate(tmp_path / "b" / "raw", CUSTOMERS, SEED + 1, chunk_size=CHUNK, workers=1)
    other_digest = _digest(other.out_dir.parent)
    assert set(other_digest) == set(first)
    differing = [k for k in first if first[k] != other_digest[k]]
    assert len(differing) == len(first)  # every table (and the truth) changes with the seed
    emails = "select list(email order by customer_id, updated_at) from read_parquet('{}/*')"
    con = duckdb.connect()
    a = con.execute(emails.format(gen.summary.out_dir / "customers")).fetchone()
    b = con.execute(emails.format(other.out_dir / "customers")).fetchone()
    assert a != b


def test_every_table_has_parts_with_exact_columns_and_types(gen: Generated) -> None:
    for table, expected in EXPECTED_COLUMNS.items():
        parts = sorted((gen.summary.out_dir / table).glob("part-*.parquet"))
        assert parts, table
        expected_parts = ["part-00000.parquet"] if table == "products" else [
            f"part-{i:05d}.parquet" for i in range(3)
        ]  # fmt: skip
        assert [p.name for p in parts] == expected_parts
        schemas = {str(pq.read_schema(p)) for p in parts}
        assert len(schemas) == 1, table  # every part has the same schema
        described = gen.con.execute(f"describe {table}").fetchall()
        assert [(r[0], r[1]) for r in described] == expected, table
    truth = gen.con.execute("describe truth").fetchall()
    assert [(r[0], r[1]) for r in truth] == [
        ("customer_id", "BIGINT"),
        ("snapshot_date", "DATE"),
        ("is_eligible", "BOOLEAN"),
        ("true_upsell_probability", "DOUBLE"),
        ("has_upgraded_in_window", "BOOLEAN"),
    ]
    acquisition = gen.con.execute("describe acquisition_truth").fetchall()
    assert [(r[0], r[1]) for r in acquisition] == [
        ("lead_id", "BIGINT"),
        ("snapshot_date", "DATE"),
        ("is_eligible", "BOOLEAN"),
        ("true_acquisition_probability", "DOUBLE"),
        ("has_converted_in_window", "BOOLEAN"),
    ]


def test_empty_tables_still_get_a_part_file_with_full_schema(tmp_path: Path) -> None:
    summary = generate(tmp_path / "raw", 5, 3, workers=1)
    assert summary.row_counts["contract_exceptions"] == 0
    con = _connect(summary.out_dir, summary.truth_path)
    for table, expected in EXPECTED_COLUMNS.items():
        assert (summary.out_dir / table / "part-00000.parquet").is_file()
        assert [(r[0], r[1]) for r in con.execute(f"describe {table}").fetchall()] == expected


def test_summary_counts_match_files(gen: Generated) -> None:
    s = gen.summary
    assert s.start_date == date(2024, 11, 1)
    assert s.truth_path == s.out_dir.parent / "truth" / "upsell_truth.parquet"
    for table in EXPECTED_COLUMNS:
        assert s.row_counts[table] == gen.scalar(f"select count(*) from {table}"), table
    assert s.row_counts["products"] == 63
    assert s.truth_rows == gen.scalar("select count(*) from truth")
    rate, n = gen.one(
        "select avg(has_upgraded_in_window::int), count(*) from truth"
        " where is_eligible and has_upgraded_in_window is not null"
    )
    assert s.eligible_customer_snapshots == n
    assert s.observed_upsell_rate == pytest.approx(rate, rel=1e-12)
    assert s.acquisition_truth_path == s.truth_path.with_name("acquisition_truth.parquet")
    assert (
        s.leads == sum(LEAD_CHUNK_SIZES) == gen.scalar("select count(distinct lead_id) from leads")
    )
    rate, n, probability = gen.one(
        "select avg(has_converted_in_window::int), count(*), avg(true_acquisition_probability)"
        " from acquisition_truth where is_eligible and has_converted_in_window is not null"
    )
    assert s.eligible_lead_snapshots == n
    assert s.observed_conversion_rate == pytest.approx(rate, rel=1e-12)
    assert s.mean_true_acquisition_probability == pytest.approx(probability, rel=1e-9)
    converted = gen.scalar(
        "select count(distinct lead_id) from leads"
        " where converted_at::timestamptz >= created_at::timestamptz"
    )
    assert s.converted_leads == converted


def test_ids_unique_across_chunks(gen: Generated) -> None:
    for table, col in ID_COLUMNS.items():
        n, distinct, nulls = gen.one(
            f"select count(*), count(distinct {col}), count(*) - count({col}) from {table}"
        )
        assert n == distinct and nulls == 0, table
    ids = gen.one(
        "select count(distinct customer_id), min(customer_id), max(customer_id) from customers"
    )
    assert ids == (CUSTOMERS, 1, CUSTOMERS)
    # lead ids follow the id stride: chunk c's leads are c * ID_STRIDE + 1, 2, ...
    per_chunk = gen.con.execute(
        f"select lead_id // {ID_STRIDE}, count(distinct lead_id), min(lead_id % {ID_STRIDE}),"
        f" max(lead_id % {ID_STRIDE}) from leads where lead_id is not null group by 1 order by 1"
    ).fetchall()
    assert per_chunk == [(c, k, 1, k) for c, k in enumerate(LEAD_CHUNK_SIZES)]


# ---------------------------------------------------------------------------------------------
# Timestamps
# ---------------------------------------------------------------------------------------------
def test_format_timestamps_matches_python_datetime() -> None:
    rng = np.random.default_rng(0)
    n = 5_000
    lo = int(datetime(1990, 1, 1, tzinfo=UTC).timestamp())
    hi = int(datetime(2061, 1, 1, tzinfo=UTC).timestamp())
    secs = np.concatenate([rng.integers(lo, hi, n), [0, 951_782_400, 1_709_164_799]])
    offs = rng.choice([0, 60, 120, -300, -480, 330, 540, -180, 600], secs.shape[0])
    sep = rng.random(secs.shape[0]) < 0.5
    valid = rng.random(secs.shape[0]) < 0.9
    got = format_timestamps(secs, offs, sep, valid).to_pylist()
    for s, o, t, v, g in zip(secs, offs, sep, valid, got, strict=True):
        if not v:
            assert g is None
            continue
        local = datetime.fromtimestamp(int(s), timezone(timedelta(minutes=int(o))))
        assert g == local.isoformat(sep="T" if t else " ")
        assert datetime.fromisoformat(g).timestamp() == s  # the instant is right


def test_timestamps_are_iso_with_offset_and_inside_window(gen: Generated) -> None:
    pattern = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}"
    seps, offsets = set(), set()
    for table in EXPECTED_COLUMNS:
        for col in _ts_columns(table):
            bad, lo_, hi_ = gen.one(
                f"select count(*) filter (where not regexp_full_match({col}, '{pattern}')),"
                f" min({col}::timestamptz), max({col}::timestamptz) from {table}"
            )
            assert bad == 0, (table, col)
            assert hi_ < datetime.fromisoformat(WINDOW_END), (table, col)
            if (table, col) not in PRE_WINDOW_OK:
                assert lo_ >= datetime.fromisoformat(WINDOW_START), (table, col)
            for s, o in gen.con.execute(
                f"select distinct {col}[11], {col}[20:] from {table} where {col} is not null"
            ).fetchall():
                seps.add(s)
                offsets.add(o)
    assert seps == {"T", " "}
    assert {"+00:00", "+01:00", "+02:00", "-05:00", "-08:00", "+05:30", "+09:00"} <= offsets
    # only the initial base (about 55%) signed up before the window
    pre = gen.scalar(
        f"select avg((signed_up_at::timestamptz < '{WINDOW_START}')::int) from customers"
    )
    assert 0.45 < pre < 0.65


def test_each_customer_writes_in_one_home_offset(gen: Generated) -> None:
    multi = gen.scalar(
        f"""
        with t as (
            select customer_id, started_at[20:] o from sessions where customer_id <= {CUSTOMERS}
            union all select customer_id, ordered_at[20:] from orders
                where customer_id <= {CUSTOMERS}
            union all select customer_id, started_at[20:] from subscriptions
            union all select customer_id, opened_at[20:] from support_tickets
        )
        select count(*) from (select customer_id from t group by 1 having count(distinct o) > 1)
        """
    )
    assert multi == 0


# ---------------------------------------------------------------------------------------------
# Planted mess
# ---------------------------------------------------------------------------------------------
def test_customer_mess_rates(gen: Generated) -> None:
    rows, null_ids, null_email, messy, test, null_phone, null_region = gen.one(
        """
        select count(*), count(*) - count(customer_id), count(*) - count(email),
          avg((email <> lower(trim(email)))::int), count(*) filter (where first_name = 'Test'),
          avg((phone is null)::int), avg((region is null)::int)
        from customers
        """
    )
    dups = rows - null_ids - CUSTOMERS
    assert 0.008 * CUSTOMERS <= dups <= 0.025 * CUSTOMERS
    assert 1 <= null_ids <= 10
    assert 0.002 * rows <= null_email <= 0.01 * rows
    assert 0.15 <= messy <= 0.25
    assert 0.01 <= null_phone <= 0.03 and 0.01 <= null_region <= 0.03
    assert 3 <= test <= 0.008 * CUSTOMERS
    bad_test = gen.scalar(
        "select count(*) from customers where (first_name = 'Test')"
        " <> coalesce(email like '%@test.invalid', false)"
    )
    assert bad_test == 0
    regions = {r[0] for r in gen.con.execute("select distinct region from customers").fetchall()}
    assert regions == {"north_america", "europe", "apac", "latam", None}


def test_duplicate_customer_rows_are_older_and_differ(gen: Generated) -> None:
    older, differ, n, home_offset_matches = gen.one(
        """
        with c as (
            select *, row_number() over (
                partition by customer_id order by updated_at::timestamptz desc) rn
            from customers where customer_id is not null
        ), pairs as (
            select old.updated_at::timestamptz < new.updated_at::timestamptz older,
                old.email is distinct from new.email or old.country_code <> new.country_code d,
                new.signed_up_at[20:] = s.started_at[20:] home
            from c old join c new on old.customer_id = new.customer_id
                and old.rn > 1 and new.rn = 1
            left join subscriptions s on s.customer_id = new.customer_id
        )
        select count(*) filter (where older), count(*) filter (where d), count(*),
            coalesce(bool_and(home), true) from pairs
        """
    )
    assert n > 0 and older == n and differ == n
    assert home_offset_matches  # the most recent row carries the customer's true home offset
    kinds = gen.one(
        """
        with c as (select *, count(*) over (partition by customer_id) k from customers
                   where customer_id is not null)
        select count(distinct email), count(distinct lower(trim(email))),
            count(distinct country_code) from c where k > 1 group by customer_id
        order by 3 desc limit 1
        """
    )
    assert kinds[2] == 2  # some duplicates carry a different country


def test_order_mess_rates(gen: Generated) -> None:
    n, orphan, null_cust, refunded, cancelled = gen.one(
        f"""
        select count(*), count(*) filter (where customer_id > {CUSTOMERS}),
          count(*) - count(customer_id), avg((order_status = 'refunded')::int),
          avg((order_status = 'cancelled')::int)
        from orders
        """
    )
    assert 0.0015 * n <= orphan <= 0.006 * n
    assert 1 <= null_cust <= 0.003 * n
    assert 0.02 <= refunded <= 0.045 and 0.005 <= cancelled <= 0.016
    statuses = gen.con.execute("select distinct order_status from orders order by 1").fetchall()
    assert statuses == [("cancelled",), ("completed",), ("refunded",)]
    nl, returns, impossible, orphan_lines = gen.one(
        """
        select count(*), avg((quantity < 0)::int),
          count(*) filter (where quantity = 0 or unit_price < 0),
          count(*) filter (where order_id not in (select order_id from orders))
        from order_lines
        """
    )
    assert 0.014 <= returns <= 0.026
    assert 1 <= impossible <= 0.003 * nl and 1 <= orphan_lines <= 0.003 * nl


def test_child_table_mess(gen: Generated) -> None:
    n, neg, orphan = gen.one(
        f"""select count(*), count(*) filter (where duration_seconds < 0),
          count(*) filter (where customer_id > {CUSTOMERS}) from sessions"""
    )
    assert 1 <= neg <= 0.003 * n and 1 <= orphan <= 0.003 * n
    n, orphan = gen.one(
        f"select count(*), count(*) filter (where customer_id > {CUSTOMERS}) from email_events"
    )
    assert 1 <= orphan <= 0.003 * n
    n, backwards = gen.one(
        "select count(*), count(*) filter (where resolved_at::timestamptz < opened_at::timestamptz)"
        " from support_tickets"
    )
    assert 1 <= backwards <= 0.006 * n
    noop = gen.scalar("select count(*) from plan_changes where from_plan = to_plan")
    assert 1 <= noop <= 10
    exceptions = gen.scalar("select count(distinct customer_id) from contract_exceptions")
    assert 0.002 * CUSTOMERS <= exceptions <= 0.01 * CUSTOMERS


def test_consents(gen: Generated) -> None:
    signup_in, later_out = gen.one(
        f"""
        with su as (
            select customer_id, min(signed_up_at::timestamptz) su from customers group by 1
        )
        select
          count(distinct customer_id) filter (where consent_status = 'opted_in'
              and recorded_at::timestamptz = su.su) / {CUSTOMERS},
          count(distinct customer_id) filter (where consent_status = 'opted_out'
              and recorded_at::timestamptz > su.su) / {CUSTOMERS}
        from consents join su using (customer_id)
        where channel in ('email', 'all')
        """
    )
    assert 0.88 <= signup_in <= 0.96
    assert 0.05 <= later_out <= 0.08
    # no email is sent to a real customer while not opted in (orphan rows are planted mess)
    sent_while_out = gen.scalar(
        f"""
        with ev as (
            select customer_id, recorded_at::timestamptz t, consent_status s from consents
            where channel in ('email', 'all')
        ), sends as (
            select customer_id, occurred_at::timestamptz t from email_events
            where event_type = 'send' and customer_id <= {CUSTOMERS}
        )
        select count(*) from sends where coalesce((
            select arg_max(s, t) from ev
            where ev.customer_id = sends.customer_id and ev.t <= sends.t
        ), 'none') <> 'opted_in'
        """
    )
    assert sent_while_out == 0


# ---------------------------------------------------------------------------------------------
# Behaviour and truth
# ---------------------------------------------------------------------------------------------
def test_truth_snapshots_and_probabilities(gen: Generated) -> None:
    sql = "select distinct snapshot_date from truth order by 1"
    dates = [r[0] for r in gen.con.execute(sql).fetchall()]
    assert dates[0] == date(2024, 12, 1) and dates[-1] == date(2026, 11, 1)
    assert len(dates) == 24 and all(d.day == 1 for d in dates)
    bad_prob, null_prob_eligible, prob_ineligible = gen.one(
        """
        select count(*) filter (where true_upsell_probability <= 0
                                   or true_upsell_probability >= 1),
          count(*) filter (where is_eligible and true_upsell_probability is null),
          count(*) filter (where not is_eligible and true_upsell_probability is not null)
        from truth
        """
    )
    assert (bad_prob, null_prob_eligible, prob_ineligible) == (0, 0, 0)
    null_label = gen.con.execute(
        "select snapshot_date, count(*) from truth where has_upgraded_in_window is null group by 1"
    ).fetchall()
    n_last = gen.scalar("select count(*) from truth where snapshot_date = '2026-11-01'")
    assert null_label == [(date(2026, 11, 1), n_last)]
    # only real customers that exist at the snapshot, once each
    leaked = gen.scalar(
        """
        select count(*) from truth t join (
            select customer_id, bool_or(first_name = 'Test') test,
                min(signed_up_at::timestamptz) su from customers group by 1
        ) c using (customer_id)
        where c.test or c.su >= t.snapshot_date::timestamptz
        """
    )
    assert leaked == 0
    dup = gen.scalar("select count(*) - count(distinct (customer_id, snapshot_date)) from truth")
    assert dup == 0
    assert gen.scalar("select count(distinct customer_id) from truth") > 0.98 * CUSTOMERS


def test_realised_upsell_rate_and_signal(gen: Generated) -> None:
    rates = gen.con.execute(
        """
        select snapshot_date, avg(has_upgraded_in_window::int) from truth
        where is_eligible and has_upgraded_in_window is not null group by 1
        """
    ).fetchall()
    assert len(rates) == 23
    assert all(0.01 <= r <= 0.08 for _, r in rates)
    overall = gen.summary.observed_upsell_rate
    assert 0.02 <= overall <= 0.05
    assert gen.summary.mean_true_upsell_probability == pytest.approx(overall, abs=0.004)
    top, bottom_half = gen.one(
        """
        with e as (
            select has_upgraded_in_window::int y,
                ntile(10) over (order by true_upsell_probability) dec
            from truth where is_eligible and has_upgraded_in_window is not null
        )
        select avg(y) filter (where dec = 10), avg(y) filter (where dec <= 5) from e
        """
    )
    assert top > 2 * bottom_half
    assert top > 0.08


def test_observable_behaviour_predicts_upsell(gen: Generated) -> None:
    # product clicks in the 30 days before the snapshot raise the realised rate
    none, many = gen.one(
        """
        with t as (
            select customer_id, snapshot_date::timestamptz s, has_upgraded_in_window::int y
            from truth where is_eligible and has_upgraded_in_window is not null
        ), c as (
            select t.customer_id, t.s, any_value(t.y) y, coalesce(sum(x.product_clicks), 0) k
            from t left join sessions x on x.customer_id = t.customer_id
                and x.started_at::timestamptz >= t.s - interval 30 day
                and x.started_at::timestamptz < t.s
            group by 1, 2
        )
        select avg(y) filter (where k = 0), avg(y) filter (where k >= 3) from c
        """
    )
    assert many > 2.5 * none


def test_upgrades_fall_in_snapshot_windows_and_follow_plan_history(gen: Generated) -> None:
    outside = gen.scalar(
        f"""
        select count(*) from plan_changes
        where {PLAN_RANK.format(c="to_plan")} > {PLAN_RANK.format(c="from_plan")}
          and changed_at::timestamptz >= date_trunc('month', changed_at::timestamptz)
                                         + interval 30 day
        """
    )
    assert outside == 0  # every upgrade lies in [s, s + 30 days) of its month's snapshot s
    # replay each subscription: every real change starts from the plan it was on (so no
    # upgrade ever starts from 'pro'), and upgrades never happen after cancellation
    broken, from_pro, after_cancel = gen.one(
        """
        with pc as (
            select subscription_id, changed_at::timestamptz t, from_plan, to_plan
            from plan_changes where from_plan <> to_plan
        ), seq as (
            select pc.*, s.initial_plan, s.cancelled_at::timestamptz c,
                lag(to_plan) over (partition by subscription_id order by t) prev_to
            from pc join subscriptions s using (subscription_id)
        )
        select count(*) filter (where from_plan <> coalesce(prev_to, initial_plan)),
            count(*) filter (where coalesce(prev_to, initial_plan) = 'pro'
                             and to_plan <> 'plus'),
            count(*) filter (where c is not null and t >= c)
        from seq
        """
    )
    assert (broken, from_pro, after_cancel) == (0, 0, 0)
    ups = gen.con.execute(
        "select from_plan, to_plan, count(*) from plan_changes where from_plan <> to_plan"
        " group by all order by all"
    ).fetchall()
    kinds = {(f, t) for f, t, _ in ups}
    assert kinds == {
        ("basic", "plus"),
        ("plus", "pro"),
        ("basic", "pro"),
        ("plus", "basic"),
        ("pro", "plus"),
    }


def test_truth_agrees_with_raw_tables(gen: Generated) -> None:
    """Eligibility and labels rebuilt in SQL from the raw tables equal the truth file."""
    elig_mismatch, label_mismatch, n = gen.one(
        f"""
        with pc as (
            select subscription_id, changed_at::timestamptz t, to_plan,
                {PLAN_RANK.format(c="to_plan")} - {PLAN_RANK.format(c="from_plan")} d
            from plan_changes where from_plan <> to_plan
        ), snaps as (
            select distinct snapshot_date, snapshot_date::timestamptz s from truth
        ), state as (
            select sn.snapshot_date, su.customer_id,
                su.started_at::timestamptz < sn.s and coalesce(
                    su.cancelled_at::timestamptz >= sn.s, true) active,
                coalesce((select arg_max(to_plan, t) from pc
                          where pc.subscription_id = su.subscription_id and pc.t < sn.s),
                         su.initial_plan) plan_at_s,
                exists (select 1 from pc where pc.subscription_id = su.subscription_id
                        and pc.d > 0 and pc.t >= sn.s and pc.t < sn.s + interval 30 day) up
            from snaps sn cross join subscriptions su
        )
        select
            count(*) filter (where coalesce(st.active and st.plan_at_s <> 'pro', false)
                             <> t.is_eligible),
            count(*) filter (where t.is_eligible and t.has_upgraded_in_window <> st.up),
            count(*)
        from truth t left join state st using (customer_id, snapshot_date)
        """
    )
    assert n == gen.summary.truth_rows
    assert (elig_mismatch, label_mismatch) == (0, 0)


def test_behaviour_volumes(gen: Generated) -> None:
    per_month = gen.scalar(
        f"""
        with c as (
            select customer_id, min(signed_up_at::timestamptz) su from customers
            where customer_id is not null group by 1
        )
        select count(*) / (select sum(datediff('second',
                greatest(su, '{WINDOW_START}'::timestamptz), '{WINDOW_END}'::timestamptz))
                / (30.44 * 86400) from c)
        from sessions
        """
    )
    assert 1.0 <= per_month <= 2.2
    sends, opens, clicks = gen.one(
        "select count(*) filter (where event_type = 'send'),"
        " count(*) filter (where event_type = 'open'),"
        " count(*) filter (where event_type = 'click') from email_events"
    )
    assert sends > opens > clicks > 0
    share = gen.scalar(
        """
        with e as (
            select distinct customer_id, date_trunc('month', shown_at::timestamptz) m
            from offers where offer_type = 'upsell'
        )
        select count(*) / (select count(*) from truth where is_eligible) from e
        """
    )
    assert 0.03 <= share <= 0.07
    categories = gen.scalar("select count(distinct category) from products")
    assert 6 <= categories <= 8


# ---------------------------------------------------------------------------------------------
# Leads: a separate random stream, planted mess, conversions and their truth
# ---------------------------------------------------------------------------------------------
# Row-level content of every table the generator wrote before leads existed (customers=300,
# seed=3, chunk_size=150), recorded from that generator. The leads come from their own random
# stream, so none of these may change; nor may they without the campaign history, whose draws
# come from a stream of their own too.
CONTENT_BEFORE_LEADS = {
    "customers": "b4855502478d4570568f85778aa8dcaab833fa433e010a139056b53394c5dbdc",
    "products": "05de84fdbae20ae7bfdfaa7f15f0057d109025507b0703c4c7162ac66b1a471a",
    "subscriptions": "bc35ece4221134af1466be69f8cd4865b7505bbc6ebb51ed82f0499d4ebe198a",
    "plan_changes": "60c1ba24fdb724f7133d58a68dbcce1c5ba25121e9d0d12be1a561c50dbcf988",
    "orders": "e28cf15552ddd359fd8cc2b62d9bc285aefb67c4550eb70ef3449d3abfe0a7e6",
    "order_lines": "23c34556d40cdd43d54bd6eb38fd767adbb8f564c37f4672c7d15c1e2ba1cd7e",
    "sessions": "868c55f85b86fc3bdef9baae6703222caca26dcf41bb0faabc73145ab83fc493",
    "email_events": "b0c27c184825865b4b992fcd04f522ccc7aa82367201a843d91ddb1fed37ecb1",
    "support_tickets": "4df110e7a18b3394e233795090aeb74c46f055f5bb9927dd774b6480adee513e",
    "offers": "fec1eaa63dc69a915ae95024c56f4e4e8be146652df6a53b429152722712ea14",
    "consents": "66cfa423d76bc8198191deeaf6b8f2a1c77d32083472f968b83f7bb4faa2f270",
    "contract_exceptions": "9ac7c8ef80a4e5c4d354fb41c4d1992e0603c438d7676f3ce5ff899b063db57e",
    "upsell_truth": "a7194a924525a2d50e638c86b943cc165f03c3b5dd31232cdb20d1892472a0d3",
}


def _content_sha256(path: Path) -> str:
    """sha256 of a table's schema and rows, part by part in order (independent of Parquet
    encoding details such as the writer version)."""
    digest = hashlib.sha256()
    for part in sorted(path.glob("*.parquet")) if path.is_dir() else [path]:
        table = pq.read_table(part)
        digest.update(str(table.schema).encode())
        for row in table.to_pylist():
            digest.update(json.dumps(row, default=str).encode() + b"\n")
    return digest.hexdigest()


def test_leads_leave_every_other_table_and_the_upsell_truth_unchanged(tmp_path: Path) -> None:
    s = generate(tmp_path / "raw", 300, 3, chunk_size=150, workers=1, campaign_history=False)
    assert s.leads == 450 and s.row_counts["lead_activities"] > 0
    assert s.row_counts["campaign_exposures"] == 0 and s.exposures == {}
    content = {
        name: _content_sha256(s.out_dir / name)
        for name in CONTENT_BEFORE_LEADS
        if name != "upsell_truth"
    }
    content["upsell_truth"] = _content_sha256(s.truth_path)
    assert content == CONTENT_BEFORE_LEADS


def _newest_leads_sql() -> str:
    """The newest record of every lead (what staging keeps), with UTC instants."""
    return """
        select * exclude (rn) from (
            select *, created_at::timestamptz created, converted_at::timestamptz converted,
                row_number() over (
                    partition by lead_id order by updated_at::timestamptz desc) rn
            from leads where lead_id is not null
        ) where rn = 1
    """


def test_lead_mess_rates(gen: Generated) -> None:
    leads = sum(LEAD_CHUNK_SIZES)
    rows, null_ids, messy, invalid, messy_phone, null_phone = gen.one(
        f"""
        select count(*), count(*) - count(lead_id),
          avg((email <> lower(trim(email)))::int),
          count(distinct lead_id) filter (where not (
              select {VALID_EMAIL} from (select lower(trim(email)) e))),
          avg((phone not similar to '\\+[0-9]+ [0-9]+')::int), avg((phone is null)::int)
        from leads
        """
    )
    dups = rows - null_ids - leads
    assert 0.01 * leads <= dups <= 0.03 * leads
    assert 1 <= null_ids <= 10
    assert 0.15 <= messy <= 0.25
    assert 1 <= invalid <= 0.012 * leads
    assert 0.18 <= messy_phone <= 0.30 and 0.03 <= null_phone <= 0.07
    # every messy phone still holds a calling code and digits
    bad_phone = gen.scalar(
        "select count(*) from leads where regexp_replace(phone, '[ ()-]', '', 'g')"
        " not similar to '\\+[0-9]{8,12}'"
    )
    assert bad_phone == 0
    backwards = gen.scalar(
        "select count(distinct lead_id) from leads"
        " where converted_at::timestamptz < created_at::timestamptz"
    )
    assert 1 <= backwards <= 0.006 * leads
    newest = _newest_leads_sql()
    size, industry, role, consent, business, backlog = gen.one(
        f"""
        select avg((company_size is null)::int), avg((industry is null)::int),
          avg((job_role is null)::int), avg(has_marketing_consent::int),
          avg((split_part(lower(trim(email)), '@', 2) not in {FREE_MAIL})::int),
          avg((created < '{WINDOW_START}')::int)
        from ({newest})
        """
    )
    assert 0.07 <= size <= 0.13 and 0.09 <= industry <= 0.15 and 0.12 <= role <= 0.18
    assert 0.70 <= consent <= 0.80
    assert 0.4 <= business <= 0.7
    assert 0.16 <= backlog <= 0.24
    distinct = {
        column: {r[0] for r in gen.con.execute(f"select distinct {column} from leads").fetchall()}
        for column in ("lead_source", "company_size")
    }
    assert distinct["lead_source"] == {
        "organic", "paid_search", "webinar", "referral", "partner", "social"
    }  # fmt: skip
    assert distinct["company_size"] == {"1-10", "11-50", "51-200", "201-1000", "1000+", None}


def test_duplicate_leads_are_older_and_differ(gen: Generated) -> None:
    older, differ, n = gen.one(
        """
        with l as (
            select *, row_number() over (
                partition by lead_id order by updated_at::timestamptz desc) rn
            from leads where lead_id is not null
        ), pairs as (
            select old.updated_at::timestamptz < new.updated_at::timestamptz older,
                old.email is distinct from new.email
                or old.company_size is distinct from new.company_size
                or old.job_role is distinct from new.job_role d
            from l old join l new on old.lead_id = new.lead_id and old.rn > 1 and new.rn = 1
        )
        select count(*) filter (where older), count(*) filter (where d), count(*) from pairs
        """
    )
    assert n > 0 and older == n and differ == n


def test_lead_activities_mess_and_lifetime(gen: Generated) -> None:
    n, null_lead, orphan = gen.one(
        """
        select count(*), count(*) - count(lead_id),
          count(*) filter (where lead_id not in (select lead_id from leads
                                                 where lead_id is not null))
        from lead_activities
        """
    )
    assert 1 <= null_lead <= 0.003 * n and 1 <= orphan <= 0.005 * n
    sql = "select distinct activity_type from lead_activities"
    types = {r[0] for r in gen.con.execute(sql).fetchall()}
    assert types == {
        "web_visit", "pricing_page_view", "content_download", "webinar_attended", "email_click",
        "demo_request",
    }  # fmt: skip
    # a lead is active from its creation until it converts (converted leads are customers)
    outside, clicks_without_consent = gen.one(
        f"""
        with l as ({_newest_leads_sql()})
        select
          count(*) filter (where a.activity_at::timestamptz < greatest(l.created,
                                                                       '{WINDOW_START}')
                           or (l.converted >= l.created
                               and a.activity_at::timestamptz >= l.converted)),
          count(*) filter (where a.activity_type = 'email_click' and not l.has_marketing_consent)
        from lead_activities a join l using (lead_id)
        """
    )
    assert (outside, clicks_without_consent) == (0, 0)


def test_acquisition_truth_agrees_with_raw_leads(gen: Generated) -> None:
    """Population (open leads), eligibility and labels rebuilt from the raw leads equal the
    truth file; a planted converted-before-created lead is an open lead in truth."""
    missing, extra, elig_mismatch, label_mismatch, n = gen.one(
        f"""
        with l as (
            select lead_id, created,
                case when converted >= created then converted end converted
            from ({_newest_leads_sql()})
        ), snaps as (
            select distinct snapshot_date, snapshot_date::timestamptz s from acquisition_truth
        ), expected as (
            select l.lead_id, sn.snapshot_date,
                l.converted is null or l.converted >= sn.s open,
                coalesce(l.converted >= sn.s and l.converted < sn.s + interval 30 day, false) y
            from l join snaps sn on l.created < sn.s
        )
        select
            count(*) filter (where t.lead_id is null),
            count(*) filter (where e.lead_id is null),
            count(*) filter (where e.open <> t.is_eligible),
            count(*) filter (where t.has_converted_in_window <> e.y),
            count(*)
        from expected e full join acquisition_truth t using (lead_id, snapshot_date)
        """
    )
    assert n == gen.scalar("select count(*) from acquisition_truth")
    assert (missing, extra, elig_mismatch, label_mismatch) == (0, 0, 0, 0)
    bad_prob, null_prob_eligible, prob_ineligible = gen.one(
        """
        select count(*) filter (where true_acquisition_probability <= 0
                                   or true_acquisition_probability >= 1),
          count(*) filter (where is_eligible and true_acquisition_probability is null),
          count(*) filter (where not is_eligible and true_acquisition_probability is not null)
        from acquisition_truth
        """
    )
    assert (bad_prob, null_prob_eligible, prob_ineligible) == (0, 0, 0)
    null_label = gen.con.execute(
        "select snapshot_date from acquisition_truth where has_converted_in_window is null"
        " group by 1"
    ).fetchall()
    assert null_label == [(date(2026, 11, 1),)]


def test_realised_conversion_rate_and_signal(gen: Generated) -> None:
    rates = gen.con.execute(
        """
        select snapshot_date, avg(has_converted_in_window::int) from acquisition_truth
        where is_eligible and has_converted_in_window is not null group by 1
        """
    ).fetchall()
    assert len(rates) == 23
    assert all(0.01 <= r <= 0.08 for _, r in rates)
    overall = gen.summary.observed_conversion_rate
    assert 0.02 <= overall <= 0.06
    # the truth is calibrated: its mean probability is the realised rate
    assert gen.summary.mean_true_acquisition_probability == pytest.approx(overall, abs=0.004)
    top, bottom_half = gen.one(
        """
        with e as (
            select has_converted_in_window::int y,
                ntile(10) over (order by true_acquisition_probability) dec
            from acquisition_truth where is_eligible and has_converted_in_window is not null
        )
        select avg(y) filter (where dec = 10), avg(y) filter (where dec <= 5) from e
        """
    )
    assert top > 4 * bottom_half
    assert top > 0.08


def test_observable_lead_behaviour_predicts_conversion(gen: Generated) -> None:
    none, demo, no_pricing, pricing, free, business = gen.one(
        f"""
        with t as (
            select lead_id, snapshot_date::timestamptz s, has_converted_in_window::int y
            from acquisition_truth where is_eligible and has_converted_in_window is not null
        ), a as (
            select t.lead_id, t.s, any_value(t.y) y,
                count(*) filter (where x.activity_type = 'demo_request') demos,
                count(*) filter (where x.activity_type = 'pricing_page_view') pricing
            from t left join lead_activities x on x.lead_id = t.lead_id
                and x.activity_at::timestamptz >= t.s - interval 30 day
                and x.activity_at::timestamptz < t.s
            group by 1, 2
        ), l as ({_newest_leads_sql()})
        select avg(y) filter (where demos = 0), avg(y) filter (where demos > 0),
            avg(y) filter (where pricing = 0), avg(y) filter (where pricing > 0),
            avg(y) filter (where split_part(lower(trim(l.email)), '@', 2) in {FREE_MAIL}),
            avg(y) filter (where split_part(lower(trim(l.email)), '@', 2) not in {FREE_MAIL})
        from a join l using (lead_id)
        """
    )
    assert demo > 3 * none
    assert pricing > 2 * no_pricing
    assert business > 1.3 * free


def test_custom_window_and_bad_end_date(tmp_path: Path) -> None:
    s = generate(tmp_path / "raw", 300, 5, end_date=date(2025, 1, 1), months=6, workers=1)
    con = _connect(s.out_dir, s.truth_path)
    sql = "select distinct snapshot_date from truth order by 1"
    dates = [r[0] for r in con.execute(sql).fetchall()]
    assert dates == [date(2024, m, 1) for m in range(8, 13)] + [date(2025, 1, 1)]
    latest = con.execute(
        "select max(occurred_at::timestamptz), min(occurred_at::timestamptz) from email_events"
    ).fetchone()
    assert latest is not None
    assert latest[0] < datetime(2025, 1, 1, tzinfo=UTC)
    assert latest[1] >= datetime(2024, 7, 1, tzinfo=UTC)
    truth_dir = tmp_path / "elsewhere"
    s2 = generate(tmp_path / "raw2", 50, 5, months=3, truth_dir=truth_dir, workers=1)
    assert s2.truth_path == truth_dir / "upsell_truth.parquet" and s2.truth_path.is_file()
    with pytest.raises(ValueError, match="first day"):
        generate(tmp_path / "bad", 10, 1, end_date=date(2026, 11, 15))
