"""Prospects: the optional leads source, its quarantine, point-in-time features, labels, truth.

Everything is recomputed in pandas from the raw Parquet files (or the clean marts) of the
session's build (2,000 customers, 3,000 leads, seed 7) and compared row by row.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import yaml

from propensity.pipeline import PROJECT_DIR
from test_point_in_time import RawCopy, assert_same_values, local_text, na_to_none, snapshot_grid

AS_OF = datetime(2026, 11, 1)
S = datetime(2026, 6, 1)  # the snapshot after which activities and conversions are changed
LATER = date(2026, 7, 1)  # a snapshot after S that must see the changes
LABEL_WINDOW = timedelta(days=30)
WEST = -480  # UTC-8: S + 1h is 2026-05-31 17:00 local
ACTIVITY_MEASURES = {
    "web_visit": "web_visits_count",
    "pricing_page_view": "pricing_page_views_count",
    "content_download": "content_downloads_count",
    "webinar_attended": "webinars_attended_count",
    "email_click": "email_clicks_count",
    "demo_request": "demo_requests_count",
}
VALID_EMAIL = re.compile(r"[^@ ]+@[^@ ]+\.[^@ ]+")  # what is_valid_email's LIKE patterns accept


def project_var(name: str) -> object:
    """A var as dbt_project.yml sets it."""
    with open(PROJECT_DIR / "dbt_project.yml") as handle:
        return yaml.safe_load(handle)["vars"][name]


def clean_email(value: object) -> str | None:
    if value is None or pd.isna(value):
        return None
    return str(value).strip().lower() or None


def key_text(value: object) -> str | None:
    return None if value is None or pd.isna(value) else str(int(value))


@pytest.fixture(scope="module")
def raw_leads(built, dbt, utc) -> pd.DataFrame:
    """The raw leads with the reason (if any) each row must be quarantined for, recomputed
    from the documented rules: null key, older record, test account, invalid email,
    conversion before creation."""
    raw = dbt.raw(built.raw_dir, "leads")
    raw["email_clean"] = raw["email"].map(clean_email)
    for column in ("created_at", "converted_at", "updated_at"):
        raw[f"{column}_utc"] = pd.Series(
            [utc(na_to_none(text)) for text in raw[column]], index=raw.index, dtype=object
        ).astype("datetime64[us]")
    ranked = raw[raw["lead_id"].notna()].sort_values(
        ["lead_id", "updated_at_utc"], ascending=[True, False]
    )
    assert not ranked.duplicated(["lead_id", "updated_at_utc"]).any(), "tie in updated_at"
    raw["rank"] = ranked.groupby("lead_id").cumcount().add(1).reindex(raw.index)
    test_domains = tuple(f"@{domain}" for domain in project_var("test_account_email_domains"))

    def reason(row: pd.Series) -> str | None:
        email = row["email_clean"]
        if pd.isna(row["lead_id"]):
            return "missing_lead_id"
        if row["rank"] > 1:
            return "duplicate_superseded_by_newer_record"
        if email is not None and email.endswith(test_domains):
            return "test_account"
        if email is not None and not VALID_EMAIL.fullmatch(email):
            return "invalid_email"
        if pd.isna(row["created_at_utc"]):
            return "missing_or_invalid_created_at"
        if row["converted_at_utc"] < row["created_at_utc"]:
            return "converted_before_created"
        return None

    raw["expected_reason"] = raw.apply(reason, axis=1)
    return raw


@pytest.fixture(scope="module")
def clean_leads(raw_leads) -> pd.DataFrame:
    """The leads expected in marts.leads, one per lead_id."""
    clean = raw_leads[raw_leads["expected_reason"].isna()].copy()
    clean["lead_id"] = clean["lead_id"].astype("int64")
    return clean.set_index("lead_id", drop=False).sort_index()


# ------------------------------------------------------------------------------------------
# 1. Source, cleaning and quarantine
# ------------------------------------------------------------------------------------------


def test_lead_quarantine_reasons_are_the_documented_rules(built, dbt, raw_leads):
    quarantined = dbt.query(
        built.warehouse,
        "select record_key, quarantine_reason from quarantine.quarantined_rows "
        "where source_table = 'leads'",
    )
    expected = raw_leads[raw_leads["expected_reason"].notna()]
    assert Counter(quarantined["quarantine_reason"]) == Counter(expected["expected_reason"])
    assert set(quarantined["quarantine_reason"]) >= {
        "missing_lead_id",
        "duplicate_superseded_by_newer_record",
        "invalid_email",
        "converted_before_created",
    }
    assert Counter(
        zip(quarantined["record_key"], quarantined["quarantine_reason"], strict=True)
    ) == Counter(zip(expected["lead_id"].map(key_text), expected["expected_reason"], strict=True))


@pytest.mark.parametrize(
    ("table", "key"), [("leads", "lead_id"), ("lead_activities", "lead_activity_id")]
)
def test_raw_lead_rows_equal_clean_plus_quarantined_and_are_counted(built, dbt, table, key):
    raw = dbt.raw(built.raw_dir, table)
    clean = dbt.query(built.warehouse, f"select {key} from marts.{table}")
    quarantined = dbt.query(
        built.warehouse,
        "select record_key from quarantine.quarantined_rows where source_table = ?",
        [table],
    )
    assert len(clean) > 0 and len(quarantined) > 0
    assert len(raw) == len(clean) + len(quarantined)
    summary = dbt.rows(
        built.warehouse,
        "select raw_rows, clean_rows, quarantined_rows from quarantine.data_quality_summary "
        "where source_table = ?",
        [table],
    )
    assert summary == [(len(raw), len(clean), len(quarantined))]
    out_keys = Counter(key_text(value) for value in clean[key])
    out_keys.update(None if pd.isna(value) else value for value in quarantined["record_key"])
    assert Counter(key_text(value) for value in raw[key]) == out_keys


def test_lead_activities_of_unknown_or_quarantined_leads_are_orphans(built, dbt, clean_leads):
    raw = dbt.raw(built.raw_dir, "lead_activities")
    expected = Counter(
        "missing_lead_id" if pd.isna(lead) else "orphan_lead_id"
        for lead in raw["lead_id"]
        if pd.isna(lead) or int(lead) not in clean_leads.index
    )
    reasons = dbt.rows(
        built.warehouse,
        "select quarantine_reason, count(*) from quarantine.quarantined_rows "
        "where source_table = 'lead_activities' group by 1",
    )
    assert dict(reasons) == dict(expected)
    # the planted orphans (unknown leads) and the activities of quarantined leads
    assert expected["orphan_lead_id"] > expected["missing_lead_id"] > 0


def test_clean_leads_are_the_newest_records_cleaned(built, dbt, clean_leads):
    mart = dbt.query(built.warehouse, "select * from marts.leads order by lead_id")
    assert mart["lead_id"].tolist() == clean_leads.index.tolist()
    assert [na_to_none(e) for e in mart["email"]] == clean_leads["email_clean"].tolist()
    expected_phone = [
        None if pd.isna(p) else re.sub(r"[ ()-]", "", p.strip()) for p in clean_leads["phone"]
    ]
    assert [na_to_none(p) for p in mart["phone"]] == expected_phone
    assert all(re.fullmatch(r"\+[0-9]{8,12}", p) for p in mart["phone"].dropna())
    messy = clean_leads["phone"].dropna()
    assert (~messy.str.fullmatch(r"\+[0-9]+ [0-9]+")).mean() > 0.15  # cleaning was needed
    for column in ("created_at", "converted_at", "updated_at"):
        expected = clean_leads[f"{column}_utc"].astype("datetime64[us]").reset_index(drop=True)
        actual = mart[column].astype("datetime64[us]")
        assert ((expected == actual) | (expected.isna() & actual.isna())).all(), column
    assert (
        mart["converted_at"].dropna() >= mart.loc[mart["converted_at"].notna(), "created_at"]
    ).all()
    assert mart["converted_at"].notna().sum() > 500
    for column in ("lead_source", "company_size", "industry", "job_role"):
        assert [na_to_none(v) for v in mart[column]] == [
            na_to_none(v) for v in clean_leads[column]
        ], column
    assert mart["has_marketing_consent"].tolist() == clean_leads["has_marketing_consent"].tolist()


# ------------------------------------------------------------------------------------------
# 2. Features: values at a snapshot, and point in time
# ------------------------------------------------------------------------------------------


def test_features_at_a_snapshot_equal_a_recomputation_from_the_clean_marts(built, dbt):
    snapshot = pd.Timestamp(S)
    leads = dbt.query(built.warehouse, "select * from marts.leads").set_index("lead_id")
    activities = dbt.query(built.warehouse, "select * from marts.lead_activities")
    features = dbt.query(
        built.warehouse,
        "select * from marts.prospect_feature_snapshots where snapshot_date = ?",
        [S.date()],
    ).set_index("lead_id")

    open_at_s = leads[
        (leads["created_at"] < snapshot)
        & (leads["converted_at"].isna() | (leads["converted_at"] >= snapshot))
    ]
    assert sorted(features.index) == sorted(open_at_s.index)
    assert len(features) > 1000

    days = (snapshot - activities["activity_at"].dt.normalize()).dt.days
    before = activities[days >= 1]
    expected = pd.DataFrame(index=features.index)
    for window in (30, 90):
        in_window = before[days[days >= 1] <= window]
        counts = in_window.groupby(["lead_id", "activity_type"]).size().unstack(fill_value=0)
        for activity_type, measure in ACTIVITY_MEASURES.items():
            column = counts[activity_type] if activity_type in counts else pd.Series(dtype=int)
            expected[f"{measure}_{window}d"] = column.reindex(expected.index, fill_value=0)
        expected[f"activities_count_{window}d"] = (
            in_window.groupby("lead_id").size().reindex(expected.index, fill_value=0)
        )
    expected["activities_count"] = (
        before.groupby("lead_id").size().reindex(expected.index, fill_value=0)
    )
    last_day = before.groupby("lead_id")["activity_at"].max().dt.normalize()
    expected["days_since_last_activity"] = (snapshot - last_day).dt.days.reindex(expected.index)
    expected["has_demo_request_30d"] = expected["demo_requests_count_30d"] > 0
    created = open_at_s["created_at"].reindex(expected.index)
    expected["days_since_created"] = (snapshot - created.dt.normalize()).dt.days
    sizes = {"1-10": 1, "11-50": 2, "51-200": 3, "201-1000": 4, "1000+": 5}
    expected["company_size_rank"] = open_at_s["company_size"].map(sizes).reindex(expected.index)
    free = set(project_var("free_email_domains"))
    domain = open_at_s["email"].str.split("@").str[1]
    expected["has_business_email"] = (domain.notna() & ~domain.isin(free)).reindex(expected.index)
    expected["is_source_webinar"] = (open_at_s["lead_source"] == "webinar").reindex(expected.index)
    for column in expected.columns:
        got = features[column].astype("float64").to_numpy()
        want = expected[column].astype("float64").to_numpy()
        same = np.isclose(got, want, equal_nan=True)
        assert same.all(), (column, features.index[~same][:3].tolist(), got[~same][:3])
    assert expected["pricing_page_views_count_30d"].sum() > 50
    assert expected["has_demo_request_30d"].sum() > 5
    assert expected["days_since_last_activity"].isna().sum() > 0


def change_lead_events_after(raw: RawCopy, converting: list[int], active: list[int]) -> None:
    """Add and change lead activities and conversions at or after S (UTC), most of them
    written in an offset that puts their local date before S; add leads created from S on.
    The converting leads convert exactly at S, one hour or ten days after it; the active
    leads get one activity of every type just after S."""
    activities, activities_schema = raw.read("lead_activities")
    at = pd.to_datetime(activities["activity_at"].astype(str), format="ISO8601", utc=True)
    after = (at >= pd.Timestamp(S, tz="UTC")).to_numpy()
    assert after.sum() > 100
    changed = after & (np.arange(len(activities)) % 2 == 0)
    activities.loc[changed, "activity_type"] = "demo_request"
    raw.write("lead_activities", activities, activities_schema)
    raw.append(
        "lead_activities",
        [
            {
                "lead_id": lead,
                "activity_at": local_text(S + timedelta(minutes=1 + k), WEST, "T"),
                "activity_type": activity_type,
            }
            for lead in active
            for k, activity_type in enumerate(ACTIVITY_MEASURES)
        ],
    )

    leads, leads_schema = raw.read("leads")
    created = pd.to_datetime(leads["created_at"].astype(str), format="ISO8601", utc=True)
    converted = pd.to_datetime(
        leads["converted_at"].astype(str).replace("<NA>", None), format="ISO8601", utc=True
    )
    # leads converting after S (and not before their creation) convert at another time
    later = ((converted >= pd.Timestamp(S, tz="UTC")) & (converted >= created)).to_numpy()
    assert later.sum() > 50
    leads.loc[later, "converted_at"] = local_text(S + timedelta(days=20), WEST)
    instants = [S, S + timedelta(hours=1), S + timedelta(days=10)]
    for index, lead in enumerate(converting):
        rows = (leads["lead_id"] == lead).fillna(False).to_numpy(dtype=bool)
        leads.loc[rows, "converted_at"] = local_text(instants[index % 3], WEST)
    raw.write("leads", leads, leads_schema)
    first_new = int(leads["lead_id"].max()) + 1
    raw.append(
        "leads",
        [
            {
                "lead_id": first_new + k,
                "email": f"new.lead{k}@acme.io",
                "phone": "+49 12345678",
                "first_name": "New",
                "last_name": "Lead",
                "country_code": "DE",
                "region": "europe",
                "lead_source": "webinar",
                "company_size": "51-200",
                "industry": "software",
                "job_role": "manager",
                "has_marketing_consent": True,
                "created_at": local_text(S + timedelta(days=k), WEST),
                "converted_at": None,
                "updated_at": local_text(S + timedelta(days=k + 1), WEST),
            }
            for k in range(5)
        ],
    )
    raw.append(
        "lead_activities",
        [
            {
                "lead_id": first_new + k,
                "activity_at": local_text(S + timedelta(days=k, hours=2), WEST),
                "activity_type": "pricing_page_view",
            }
            for k in range(5)
        ],
    )


PROSPECTS_SQL = "select * from marts.prospect_feature_snapshots order by lead_id, snapshot_date"


def test_prospect_features_at_or_before_s_ignore_events_after_s(built, dbt, tmp_path):
    chosen = [
        int(row[0])
        for row in dbt.rows(
            built.warehouse,
            "select lead_id from marts.prospect_feature_snapshots "
            "where snapshot_date = ? and activities_count > 0 order by lead_id limit 42",
            [S.date()],
        )
    ]
    assert len(chosen) == 42
    converting, active = chosen[::2], chosen[1::2]
    raw = RawCopy(built.raw_dir, tmp_path / "raw")
    change_lead_events_after(raw, converting, active)

    # The as_of_date var pins the snapshot grid, whatever the changed data.
    warehouse = tmp_path / "changed.duckdb"
    dbt.run(
        ["build", "--select", "+prospect_feature_snapshots", "--indirect-selection", "cautious"],
        warehouse=warehouse,
        raw_dir=raw.root,
        variables={"model_dir": str(tmp_path / "models"), "as_of_date": "2026-11-01"},
    )
    grid = dbt.rows(warehouse, "select snapshot_date from intermediate.int_snapshot_dates")
    assert sorted(row[0] for row in grid) == [d.date() for d in snapshot_grid()]

    base = dbt.query(built.warehouse, PROSPECTS_SQL)
    changed = dbt.query(warehouse, PROSPECTS_SQL)
    base_dates, changed_dates = base["snapshot_date"].dt.date, changed["snapshot_date"].dt.date
    before = base[base_dates <= S.date()].reset_index(drop=True)
    assert before["snapshot_date"].nunique() == 19
    assert set(chosen) <= set(before.loc[before["snapshot_date"].dt.date == S.date(), "lead_id"])
    assert_same_values(
        before,
        changed[changed_dates <= S.date()].reset_index(drop=True),
        "prospect features at snapshots <= S",
    )

    # The changes were visible at the next snapshot: the converted leads left the
    # population, the new leads joined it, and the activity features moved.
    later_base = base[base_dates == LATER].set_index("lead_id")
    later_changed = changed[changed_dates == LATER].set_index("lead_id")
    assert not set(converting) & set(later_changed.index)
    assert set(converting) & set(later_base.index)
    new = sorted(set(later_changed.index) - set(later_base.index))
    assert len(new) == 5
    assert (later_changed.loc[new, "pricing_page_views_count_30d"] == 1).all()
    common = later_base.index.intersection(later_changed.index)
    moved = {
        column
        for column in later_base.columns
        if not np.array_equal(
            later_base.loc[common, column].astype(str).to_numpy(),
            later_changed.loc[common, column].astype(str).to_numpy(),
        )
    }
    assert moved >= {
        f"{measure}_{window}d"
        for measure in [*ACTIVITY_MEASURES.values(), "activities_count"]
        for window in (30, 90)
    } | {"has_demo_request_30d", "has_demo_request_90d", "activities_count",
         "days_since_last_activity"}, moved  # fmt: skip
    stayed = [lead for lead in active if lead in later_changed.index]
    assert stayed
    assert (later_changed.loc[stayed, "days_since_last_activity"] <= 30).all()
    assert (
        later_changed.loc[stayed, "activities_count"]
        >= later_base.loc[stayed, "activities_count"] + len(ACTIVITY_MEASURES)
    ).all()
    assert later_changed.loc[stayed, "has_demo_request_30d"].all()


# ------------------------------------------------------------------------------------------
# 3. Labels
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def expected_labels(clean_leads) -> pd.DataFrame:
    """The acquisition population and labels recomputed in pandas from the raw leads."""
    leads = clean_leads[["lead_id", "created_at_utc", "converted_at_utc"]].reset_index(drop=True)
    frames = []
    for snapshot in snapshot_grid():
        window_end = snapshot + LABEL_WINDOW
        open_at = leads[
            (leads["created_at_utc"] < snapshot)
            & (leads["converted_at_utc"].isna() | (leads["converted_at_utc"] >= snapshot))
        ]
        complete = window_end <= AS_OF
        converted = open_at["converted_at_utc"] < window_end
        frames.append(
            pd.DataFrame(
                {
                    "lead_id": open_at["lead_id"].to_numpy(),
                    "snapshot_date": snapshot.date(),
                    "label_window_end_date": window_end.date(),
                    "is_label_complete": complete,
                    "has_converted": converted.to_numpy() if complete else None,
                    "converted_at": open_at["converted_at_utc"].where(converted).to_numpy()
                    if complete
                    else pd.NaT,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def actual_labels(built, dbt) -> pd.DataFrame:
    labels = dbt.query(
        built.warehouse,
        "select lead_id, snapshot_date, label_window_end_date, is_label_complete, "
        "has_converted, converted_at from intermediate.int_acquisition_labels",
    )
    labels["snapshot_date"] = labels["snapshot_date"].dt.date
    labels["label_window_end_date"] = labels["label_window_end_date"].dt.date
    return labels


def test_every_label_is_a_conversion_in_its_30_day_window(expected_labels, actual_labels):
    keys = ["lead_id", "snapshot_date"]
    assert not actual_labels.duplicated(keys).any()
    merged = expected_labels.merge(
        actual_labels, on=keys, how="outer", suffixes=("_expected", ""), indicator=True
    )
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    assert (merged["label_window_end_date"] == merged["label_window_end_date_expected"]).all()
    assert (merged["is_label_complete"] == merged["is_label_complete_expected"]).all()
    complete = merged[merged["is_label_complete"]]
    assert (complete["has_converted"] == complete["has_converted_expected"]).all()
    assert complete["has_converted"].sum() > 500
    assert (
        complete["converted_at"]
        .astype("datetime64[us]")
        .fillna(pd.Timestamp(0))
        .eq(complete["converted_at_expected"].astype("datetime64[us]").fillna(pd.Timestamp(0)))
        .all()
    )
    incomplete = merged[~merged["is_label_complete"]]
    assert set(incomplete["snapshot_date"]) == {AS_OF.date()}
    assert incomplete["has_converted"].isna().all() and incomplete["converted_at"].isna().all()


def test_label_population_is_the_prospect_feature_rows(built, dbt, actual_labels):
    features = dbt.query(
        built.warehouse, "select lead_id, snapshot_date from marts.prospect_feature_snapshots"
    )
    features["snapshot_date"] = features["snapshot_date"].dt.date
    keys = ["lead_id", "snapshot_date"]
    assert set(features[keys].itertuples(index=False, name=None)) == set(
        actual_labels[keys].itertuples(index=False, name=None)
    )


# ------------------------------------------------------------------------------------------
# 4. The generator's truth
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def acquisition_truth(built) -> pd.DataFrame:
    truth = pd.read_parquet(built.truth_dir / "acquisition_truth.parquet")
    truth["snapshot_date"] = pd.to_datetime(truth["snapshot_date"]).dt.date
    return truth


def test_population_and_labels_agree_with_the_truth_for_clean_leads(
    acquisition_truth, actual_labels, clean_leads
):
    truth = acquisition_truth[acquisition_truth["lead_id"].isin(clean_leads.index)]
    merged = truth.merge(actual_labels, on=["lead_id", "snapshot_date"], how="left", indicator=True)
    in_population = merged["_merge"] == "both"
    assert (in_population == merged["is_eligible"]).all()
    assert in_population.sum() == len(actual_labels)
    complete = merged[in_population & merged["is_label_complete"].fillna(False).astype(bool)]
    assert (complete["has_converted"] == complete["has_converted_in_window"]).all()


def test_truth_probabilities_are_calibrated_against_observed_conversions(acquisition_truth):
    known = acquisition_truth[
        acquisition_truth["is_eligible"] & acquisition_truth["has_converted_in_window"].notna()
    ].copy()
    known["y"] = known["has_converted_in_window"].astype(float)
    assert len(known) > 20_000
    observed, predicted = known["y"].mean(), known["true_acquisition_probability"].mean()
    assert 0.02 <= observed <= 0.06
    assert abs(observed - predicted) < 0.004
    known["quintile"] = pd.qcut(known["true_acquisition_probability"], 5, labels=False)
    by_quintile = known.groupby("quintile").agg(
        observed=("y", "mean"), predicted=("true_acquisition_probability", "mean"), n=("y", "size")
    )
    tolerance = 4 * np.sqrt(
        by_quintile["predicted"] * (1 - by_quintile["predicted"]) / by_quintile["n"]
    )
    assert ((by_quintile["observed"] - by_quintile["predicted"]).abs() < tolerance + 0.002).all(), (
        by_quintile
    )
    assert by_quintile["observed"].iloc[-1] > 4 * by_quintile["observed"].iloc[0]
