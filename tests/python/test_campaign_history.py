"""The demo campaign history: random assignment, planted uplift, its truth and the marts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from propensity.demo import describe_history
from propensity.generate import HISTORICAL_CAMPAIGNS, UPLIFT_TYPES, GenerationSummary, generate

CUSTOMERS = 6_000
SEED = 11
CHUNK = 3_000  # two chunks: the riskier half is taken per chunk
END = date(2026, 11, 1)
Z_99 = 2.5758  # two-sided 99% normal quantile
BOUND_SIGMAS = 4.0  # assignment shares: a binomial count within 4 standard deviations
CAMPAIGNS = {campaign.campaign_id: campaign for campaign in HISTORICAL_CAMPAIGNS}
UPGRADE_CAMPAIGNS = [c.campaign_id for c in HISTORICAL_CAMPAIGNS if c.outcome == "upgrade"]


def campaign_snapshot(campaign_id: str) -> date:
    """The month start months_before_end before the end date."""
    month = END.year * 12 + END.month - 1 - CAMPAIGNS[campaign_id].months_before_end
    return date(month // 12, month % 12 + 1, 1)


@dataclass
class History:
    summary: GenerationSummary
    raw: Path
    truth: pd.DataFrame  # uplift_truth.parquet
    con: duckdb.DuckDBPyConnection  # views over the raw tables and the truths


def _open(raw: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    tables = ("customers", "subscriptions", "plan_changes", "sessions", "orders")
    for table in (*tables, "campaign_exposures"):
        con.execute(f"create view {table} as select * from read_parquet('{raw}/{table}/*')")
    truth = raw.parent / "truth"
    con.execute(f"create view upsell_truth as select * from '{truth}/upsell_truth.parquet'")
    con.execute(f"create view uplift_truth as select * from '{truth}/uplift_truth.parquet'")
    return con


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    raw = tmp_path_factory.mktemp("history") / "raw"
    summary = generate(raw, CUSTOMERS, SEED, end_date=END, chunk_size=CHUNK, workers=1)
    truth = pd.read_parquet(summary.uplift_truth_path)
    assert summary.exposures == {
        key: len(rows) for key, rows in truth.groupby(["campaign_id", "experiment_group"])
    }
    return History(summary, raw, truth, _open(raw))


def _within_binomial(count: int, trials: int, share: float) -> bool:
    return abs(count - trials * share) <= BOUND_SIGMAS * math.sqrt(trials * share * (1 - share))


def test_assignment_shares_are_within_binomial_bounds(history: History) -> None:
    truth = history.truth
    for campaign_id in UPGRADE_CAMPAIGNS:
        campaign = CAMPAIGNS[campaign_id]
        # the population: customers eligible for up-sell at the snapshot (test accounts are
        # neither in the truth nor assigned)
        eligible = history.con.execute(
            "select count(*) from upsell_truth where is_eligible and snapshot_date = ?",
            [campaign_snapshot(campaign_id)],
        ).fetchone()[0]
        rows = truth[truth["campaign_id"] == campaign_id]
        treated = int((rows["experiment_group"] == "treatment").sum())
        assert eligible > 1_000
        assert _within_binomial(len(rows), eligible, campaign.population_share), campaign_id
        assert _within_binomial(treated, len(rows), campaign.treatment_share), campaign_id
    # the retention test: every active subscriber above the median hazard of its chunk
    snapshot = campaign_snapshot("retention_save_test")
    active = history.con.execute(
        """
        select count(*) from subscriptions
        where started_at::timestamptz < ?::timestamptz
            and (cancelled_at is null or cancelled_at::timestamptz >= ?::timestamptz)
            and customer_id not in (
                select customer_id from customers where email like '%@test.invalid'
            )
        """,
        [snapshot, snapshot],
    ).fetchone()[0]
    rows = truth[truth["campaign_id"] == "retention_save_test"]
    chunks = math.ceil(CUSTOMERS / CHUNK)
    assert active // 2 - chunks <= len(rows) <= active // 2
    treated = int((rows["experiment_group"] == "treatment").sum())
    assert _within_binomial(treated, len(rows), 0.5)


def test_raw_rows_are_the_truth_plus_planted_mess(history: History) -> None:
    con = history.con
    real = con.execute(
        """
        select campaign_id, customer_id, experiment_group, count(*) from campaign_exposures
        where customer_id <= ? and experiment_group in ('treatment', 'control')
        group by all
        """,
        [CUSTOMERS],
    ).df()
    truth = history.truth.groupby(["campaign_id", "customer_id", "experiment_group"]).size()
    keyed = real.set_index(["campaign_id", "customer_id", "experiment_group"])["count_star()"]
    assert truth.max() == 1
    assert sorted(keyed.index) == sorted(truth.index)
    # the only real customers with two rows are copies of one row (same key and instants)
    copies = con.execute(
        """
        select count(*), count(distinct campaign_exposure_id), count(distinct
            (campaign_id, customer_id, experiment_group, assigned_at::timestamptz,
            sent_at::timestamptz, channel))
        from campaign_exposures
        where campaign_exposure_id in (
            select campaign_exposure_id from campaign_exposures group by 1 having count(*) > 1
        )
        """
    ).fetchone()
    assert copies[0] >= 2 * copies[1] > 0 and copies[1] == copies[2]
    planted = con.execute(
        """
        select count(*) filter (where experiment_group not in ('treatment', 'control')),
            count(*) filter (where experiment_group = 'control' and sent_at is not null),
            count(*) filter (where sent_at::timestamptz < assigned_at::timestamptz)
        from campaign_exposures where customer_id > ?
        """,
        [CUSTOMERS],
    ).fetchone()
    assert min(planted) >= 1
    # real rows: control never sent, a treatment row sent within hours of its assignment
    delays = con.execute(
        """
        select experiment_group, count(sent_at), min(epoch(sent_at::timestamptz)
            - epoch(assigned_at::timestamptz)), max(epoch(sent_at::timestamptz)
            - epoch(assigned_at::timestamptz)), count(*)
        from campaign_exposures where customer_id <= ? group by 1 order by 1
        """,
        [CUSTOMERS],
    ).fetchall()
    (control, control_sent, *_), (treatment, sent, low, high, treated) = delays
    assert (control, control_sent, treatment) == ("control", 0, "treatment")
    assert 600 <= low <= high < 8 * 3600 + 1
    assert 0.8 * treated < sent < treated  # sent unless email consent was missing


def test_the_demo_line_counts_each_campaign_s_groups(history: History) -> None:
    line = describe_history(history.summary)
    for campaign_id, rows in history.truth.groupby("campaign_id"):
        treated = int((rows["experiment_group"] == "treatment").sum())
        assert f"{campaign_id} {treated:,}/{len(rows) - treated:,}" in line
    assert line.endswith(str(history.summary.uplift_truth_path))


def test_every_assignment_falls_on_its_campaign_snapshot(history: History) -> None:
    rows = history.con.execute(
        """
        select campaign_id, min(assigned_at::timestamptz), max(assigned_at::timestamptz)
        from campaign_exposures group by 1
        """
    ).fetchall()
    assert {row[0] for row in rows} == set(CAMPAIGNS)
    for campaign_id, first, last in rows:
        snapshot = pd.Timestamp(campaign_snapshot(campaign_id), tz="UTC")
        assert snapshot <= first <= last < snapshot + pd.Timedelta(hours=2), campaign_id


def test_same_seed_same_history_other_seed_another(history: History, tmp_path: Path) -> None:
    again = generate(tmp_path / "a" / "raw", CUSTOMERS, SEED, end_date=END, chunk_size=CHUNK)
    assert pd.read_parquet(again.uplift_truth_path).equals(history.truth)
    query = "select * from read_parquet('{}/campaign_exposures/*') order by all"
    first = history.con.execute(query.format(history.raw)).df()
    assert history.con.execute(query.format(again.out_dir)).df().equals(first)
    other = generate(tmp_path / "b" / "raw", CUSTOMERS, SEED + 1, end_date=END, chunk_size=CHUNK)
    other_truth = pd.read_parquet(other.uplift_truth_path)
    assert not other_truth["customer_id"].equals(history.truth["customer_id"])


def test_truth_uplift_is_treatment_minus_control_and_probabilities(history: History) -> None:
    truth = history.truth
    assert (truth["true_uplift"] == truth["p_treatment"] - truth["p_control"]).all()
    for column in ("p_control", "p_treatment"):
        assert truth[column].between(0, 1).all()
    assert set(truth["experiment_group"]) == {"treatment", "control"}


def test_uplift_types_and_the_signs_of_their_effects(history: History) -> None:
    truth = history.truth
    for campaign_id, rows in truth.groupby("campaign_id"):
        assert set(rows["uplift_type"]) == set(UPLIFT_TYPES), campaign_id
        uplift = rows.groupby("uplift_type")["true_uplift"]
        # a contact helps persuadables (more upgrades, fewer cancellations) and hurts
        # sleeping dogs; sure things and lost causes do not move
        sign = 1 if CAMPAIGNS[campaign_id].outcome == "upgrade" else -1
        assert (sign * rows.loc[rows["uplift_type"] == "persuadable", "true_uplift"] >= 0).all()
        assert (sign * rows.loc[rows["uplift_type"] == "sleeping_dog", "true_uplift"] <= 0).all()
        assert sign * uplift.mean()["persuadable"] > (0.05 if sign > 0 else 0.005)
        assert sign * uplift.mean()["sleeping_dog"] < 0
        for kind in ("sure_thing", "lost_cause"):
            assert (rows.loc[rows["uplift_type"] == kind, "true_uplift"] == 0).all()
        base = rows.groupby("uplift_type")["p_control"].mean()
        if sign > 0:
            assert base["sure_thing"] > 1.5 * base["lost_cause"]
            # on average a contact adds 1.5 to 2.5 points on a 2.5-4% base
            assert 0.015 <= rows["true_uplift"].mean() <= 0.025
            assert 0.025 <= rows["p_control"].mean() <= 0.04
        else:
            assert rows["true_uplift"].mean() < 0  # fewer cancellations, sleeping dogs included


def test_unreached_customers_get_no_effect(history: History) -> None:
    """A treatment row without a send (no email consent) has p_treatment = p_control."""
    sent = history.con.execute(
        "select distinct campaign_id, customer_id, sent_at is not null as is_sent"
        " from campaign_exposures"
        " where experiment_group = 'treatment' and customer_id <= ?",
        [CUSTOMERS],
    ).df()
    treated = history.truth[history.truth["experiment_group"] == "treatment"].merge(
        sent, on=["campaign_id", "customer_id"], validate="one_to_one"
    )
    moved = treated["uplift_type"].isin(["persuadable", "sleeping_dog"])
    assert (treated.loc[~treated["is_sent"], "true_uplift"] == 0).all()
    assert (treated.loc[treated["is_sent"] & moved, "true_uplift"] != 0).mean() > 0.95
    assert (~treated["is_sent"]).sum() > 0


def test_upsell_truth_holds_the_probability_used(history: History) -> None:
    for campaign_id in UPGRADE_CAMPAIGNS:
        used = history.con.execute(
            "select customer_id, true_upsell_probability from upsell_truth"
            " where is_eligible and snapshot_date = ?",
            [campaign_snapshot(campaign_id)],
        ).df()
        rows = history.truth[history.truth["campaign_id"] == campaign_id].merge(
            used, on="customer_id", validate="one_to_one"
        )
        expected = np.where(
            rows["experiment_group"] == "treatment", rows["p_treatment"], rows["p_control"]
        )
        assert np.array_equal(rows["true_upsell_probability"].to_numpy(), expected)


RAW_OUTCOME_SQL = {
    "upgrade": """
        select subscriptions.customer_id
        from plan_changes
        inner join subscriptions using (subscription_id)
        where
            list_position(['basic', 'plus', 'pro'], to_plan)
                > list_position(['basic', 'plus', 'pro'], from_plan)
            and changed_at::timestamptz >= $snapshot::timestamptz
            and changed_at::timestamptz < $snapshot::timestamptz + interval 30 day
    """,
    "churn": """
        select customer_id from subscriptions
        where
            cancelled_at::timestamptz >= $snapshot::timestamptz
            and cancelled_at::timestamptz < $snapshot::timestamptz + interval 30 day
    """,
}


def test_the_truth_is_the_chance_of_what_happened(history: History) -> None:
    """Per campaign, group and type, the outcomes in the raw tables add up to the truth's
    probabilities (p_treatment for the treatment group, p_control for the control group)."""
    for campaign_id, rows in history.truth.groupby("campaign_id"):
        sql = RAW_OUTCOME_SQL[CAMPAIGNS[campaign_id].outcome]
        happened = {
            row[0]
            for row in history.con.execute(
                sql, {"snapshot": str(campaign_snapshot(campaign_id))}
            ).fetchall()
        }
        rows = rows.assign(
            happened=rows["customer_id"].isin(happened),
            p=np.where(
                rows["experiment_group"] == "treatment", rows["p_treatment"], rows["p_control"]
            ),
        )
        for cell, group in rows.groupby(["experiment_group", "uplift_type"]):
            spread = math.sqrt((group["p"] * (1 - group["p"])).sum())
            gap = group["happened"].sum() - group["p"].sum()
            assert abs(gap) <= 4 * spread + 1, (campaign_id, cell, gap, spread)
        treated = rows[rows["experiment_group"] == "treatment"]
        persuaded = treated[
            (treated["uplift_type"] == "persuadable") & (treated["true_uplift"] != 0)
        ]
        if CAMPAIGNS[campaign_id].outcome == "upgrade":
            assert persuaded["happened"].mean() > 2 * persuaded["p_control"].mean()


def test_rows_before_the_first_campaign_are_unchanged(history: History, tmp_path: Path) -> None:
    without = generate(
        tmp_path / "raw", CUSTOMERS, SEED, end_date=END, chunk_size=CHUNK, campaign_history=False
    )
    plain = _open(without.out_dir)
    assert plain.execute("select count(*) from campaign_exposures").fetchone()[0] == 0
    first = min(campaign_snapshot(c) for c in CAMPAIGNS)
    for table, column in (("sessions", "started_at"), ("orders", "ordered_at")):
        query = (
            f"select customer_id, {column}::timestamptz from {table}"
            f" where customer_id <= {CUSTOMERS} and {column}::timestamptz < '{first}'"
            " order by all"
        )
        before = plain.execute(query).fetchall()
        assert len(before) > 10_000
        assert history.con.execute(query).fetchall() == before, table
    truth_query = f"select * from upsell_truth where snapshot_date < '{first}' order by all"
    assert history.con.execute(truth_query).fetchall() == plain.execute(truth_query).fetchall()


# ---------------------------------------------------------------------------------------------
# The session build: the same history through staging, validation and the core mart
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exposures(built, dbt) -> pd.DataFrame:
    """The core mart's exposures with the truth beside each row."""
    rows = dbt.query(built.warehouse, "select * from marts.campaign_exposures")
    truth = pd.read_parquet(built.truth_dir / "uplift_truth.parquet")
    return rows.merge(
        truth, on=["campaign_id", "customer_id", "experiment_group"], how="outer", indicator=True
    )


def test_mart_rows_are_exactly_the_truth_and_dated_at_the_campaign(
    built, dbt, utc, exposures
) -> None:
    assert (exposures["_merge"] == "both").all()
    assert (exposures["is_treatment"] == (exposures["experiment_group"] == "treatment")).all()
    for campaign_id, rows in exposures.groupby("campaign_id"):
        assert set(rows["snapshot_date"].dt.date) == {campaign_snapshot(campaign_id)}
    # the instants are the raw strings' UTC instants (every copy of a key has the same ones)
    raw = dbt.raw(built.raw_dir, "campaign_exposures").dropna(subset=["campaign_exposure_id"])
    for column in ("assigned_at", "sent_at"):
        raw[column] = [utc(None if pd.isna(text) else text) for text in raw[column]]
    raw = raw.drop_duplicates(["campaign_exposure_id", "assigned_at", "sent_at"])
    raw = raw.set_index(raw["campaign_exposure_id"].astype("int64"))
    mart = exposures.set_index("campaign_exposure_id")
    assert raw.index.is_unique
    for column in ("assigned_at", "sent_at"):
        expected = raw.loc[mart.index, column].astype("datetime64[us]")
        got = mart[column].astype("datetime64[us]")
        assert ((expected == got) | (expected.isna() & got.isna())).all(), column
    assert mart["sent_at"].notna().sum() > 0.8 * mart["is_treatment"].sum()


def test_quarantined_exposures_are_the_planted_mess(built, dbt) -> None:
    reasons = dict(
        dbt.rows(
            built.warehouse,
            "select quarantine_reason, count(*) from quarantine.quarantined_rows"
            " where source_table = 'campaign_exposures' group by 1",
        )
    )
    assert set(reasons) == {
        "duplicate_campaign_exposure_id",
        "orphan_customer_id",
        "control_with_sent_at",
        "sent_before_assigned",
        "unknown_experiment_group",
    }
    raw = len(dbt.raw(built.raw_dir, "campaign_exposures"))
    clean = dbt.scalar(built.warehouse, "select count(*) from marts.campaign_exposures")
    assert raw == clean + sum(reasons.values())


OUTCOME_SQL = {
    "upgrade": """
        select exposures.campaign_exposure_id, count(plan_changes.plan_change_id) > 0
        from marts.campaign_exposures as exposures
        left join marts.subscriptions as subscriptions using (customer_id)
        left join marts.plan_changes as plan_changes
            on plan_changes.subscription_id = subscriptions.subscription_id
            and plan_changes.changed_at >= exposures.snapshot_date
            and plan_changes.changed_at < exposures.snapshot_date + interval 30 day
            and (select tier_rank from config.plan_tiers where plan_code = to_plan)
                > (select tier_rank from config.plan_tiers where plan_code = from_plan)
        group by 1
    """,
    "churn": """
        select exposures.campaign_exposure_id, count(subscriptions.subscription_id) > 0
        from marts.campaign_exposures as exposures
        left join marts.subscriptions as subscriptions
            on subscriptions.customer_id = exposures.customer_id
            and subscriptions.cancelled_at >= exposures.snapshot_date
            and subscriptions.cancelled_at < exposures.snapshot_date + interval 30 day
        group by 1
    """,
}


def test_observed_effect_in_the_marts_agrees_with_the_truth(built, dbt, exposures) -> None:
    for outcome, sql in OUTCOME_SQL.items():
        observed = dict(dbt.rows(built.warehouse, sql))
        for campaign_id, rows in exposures.groupby("campaign_id"):
            if CAMPAIGNS[campaign_id].outcome != outcome:
                continue
            happened = rows["campaign_exposure_id"].map(observed).astype(float)
            treatment = happened[rows["is_treatment"]]
            control = happened[~rows["is_treatment"]]
            difference = treatment.mean() - control.mean()
            error = math.sqrt(
                treatment.var(ddof=1) / len(treatment) + control.var(ddof=1) / len(control)
            )
            true_uplift = rows["true_uplift"].mean()
            assert abs(difference - true_uplift) <= Z_99 * error, (campaign_id, difference)
            if outcome == "upgrade":
                assert treatment.mean() > 0 and control.mean() > 0


def test_arms_are_balanced_on_features_before_the_campaign(built, dbt) -> None:
    features = dbt.query(
        built.warehouse,
        """
        select exposures.campaign_id, exposures.is_treatment, features.orders_count,
            features.sessions_count_30d, features.tenure_days, features.support_tickets_count_30d
        from marts.campaign_exposures as exposures
        inner join marts.customer_feature_snapshots as features
            on exposures.customer_id = features.customer_id
            and exposures.snapshot_date = features.snapshot_date
        """,
    )
    columns = ["orders_count", "sessions_count_30d", "tenure_days", "support_tickets_count_30d"]
    assert len(features) == dbt.scalar(
        built.warehouse, "select count(*) from marts.campaign_exposures"
    )
    for campaign_id, rows in features.groupby("campaign_id"):
        for column in columns:
            treatment = rows.loc[rows["is_treatment"], column]
            control = rows.loc[~rows["is_treatment"], column]
            error = math.sqrt(
                treatment.var(ddof=1) / len(treatment) + control.var(ddof=1) / len(control)
            )
            assert abs(treatment.mean() - control.mean()) < 4 * error, (campaign_id, column)
