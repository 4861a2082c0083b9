"""The lookalike audience and the ad-platform export, on the session's build (2,000 customers).

What is checked is recomputed here from the raw Parquet files and the clean marts:
normalisation and hashing (hashlib), consent, the lookalike index and scores (pandas), and
that no email, phone or name of anybody, in any normal form, reaches an export.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from propensity.ad_export import AD_AUDIENCES, AD_PLATFORMS, export_ad_audience
from propensity.cli import main
from propensity.export import ExportError
from propensity.generate import COUNTRY_OPTIONS
from propensity.pipeline import PROJECT_DIR

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
VALID_EMAIL = re.compile(r"[^@ ]+@[^@ ]+\.[^@ ]+")  # what is_valid_email's LIKE patterns accept
HEADERS = {"google": ["Email", "Phone"], "meta": ["email", "phone"]}
HASH_COLUMNS = [
    "google_email_sha256",
    "google_phone_sha256",
    "meta_email_sha256",
    "meta_phone_sha256",
]
ATTRIBUTES = ["region", "country_code", "acquisition_channel", "visits_band", "email_clicks_band"]
# The calling code of every country the generator writes (the demo's truth, not the seed),
# and the trunk prefix a national number would carry (none of the demo's numbers do).
CALLING_CODES = {country: calling.lstrip("+") for country, _, _, calling, _ in COUNTRY_OPTIONS}


def project_var(name: str) -> object:
    """A var as dbt_project.yml sets it."""
    with open(PROJECT_DIR / "dbt_project.yml") as handle:
        return yaml.safe_load(handle)["vars"][name]


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def normal_email(value: object) -> str | None:
    """The email as the platforms hash it: trimmed, lower case; None unless an address."""
    if is_missing(value):
        return None
    text = str(value).strip().lower()
    return text if VALID_EMAIL.fullmatch(text) else None


def e164(value: object, country: object) -> str | None:
    """The phone in E.164 ('+' and 8-15 digits), written independently of the SQL macro."""
    if is_missing(value):
        return None
    text = str(value).replace("(0)", "").replace("(", "").replace(")", "").strip()
    digits = "".join(character for character in text if character.isdigit())
    if text.startswith("+"):
        international = digits
    elif digits.startswith("00"):
        international = digits[2:]
    elif not is_missing(country) and country in CALLING_CODES:
        trunk = "1" if CALLING_CODES[country] == "1" else "0"
        national = digits[len(trunk) :] if digits.startswith(trunk) else digits
        international = CALLING_CODES[country] + national
    else:
        return None
    if not 8 <= len(international) <= 15 or international.startswith("0"):
        return None
    return "+" + international


def sha256(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(value.encode("utf-8")).hexdigest()


def band(count: object, edges: list[int]) -> str:
    """The band label of a count (count_band): [1, 3] gives 0, 1-2, 3+."""
    value = 0 if is_missing(count) else int(count)
    lower = 0
    for edge in edges:
        if value < edge:
            return str(lower) if edge - 1 == lower else f"{lower}-{edge - 1}"
        lower = edge
    return f"{edges[-1]}+"


def none_if_missing(value: object) -> object:
    return None if is_missing(value) else value


@pytest.fixture(scope="module")
def as_of(built, dbt) -> pd.Timestamp:
    return pd.Timestamp(
        dbt.scalar(
            built.warehouse,
            "select as_of_date from intermediate.int_snapshot_dates where is_as_of_snapshot",
        )
    )


@pytest.fixture(scope="module")
def members(built, dbt) -> pd.DataFrame:
    return dbt.query(built.warehouse, "select * from audiences.ad_audience_members")


@pytest.fixture(scope="module")
def exports(built, tmp_path_factory) -> dict[tuple[str, str], tuple[object, Path]]:
    """Every audience written for every platform: (summary, file)."""
    root = tmp_path_factory.mktemp("ad_exports")
    written = {}
    for audience in AD_AUDIENCES:
        for platform in AD_PLATFORMS:
            out = root / f"{audience}_{platform}.csv"
            written[audience, platform] = (
                export_ad_audience(built.warehouse, audience, platform, out),
                out,
            )
    return written


@pytest.fixture(scope="module")
def people(built, dbt) -> dict[str, pd.DataFrame]:
    """Customers and leads as the raw Parquet files and the clean marts hold them."""
    return {
        "raw_customers": dbt.raw(built.raw_dir, "customers"),
        "raw_leads": dbt.raw(built.raw_dir, "leads"),
        "customers": dbt.query(built.warehouse, "select * from marts.customers"),
        "leads": dbt.query(built.warehouse, "select * from marts.leads"),
    }


@pytest.fixture(scope="module")
def opted_out(built, dbt, as_of) -> set[int]:
    """Customers with an opt-out in force at the as-of date on any channel (newest event
    before it per channel), recomputed from the consents mart."""
    consents = dbt.query(built.warehouse, "select * from marts.consents")
    before = consents[consents["recorded_at"] < as_of]
    newest = (
        before.sort_values(["recorded_at", "consent_event_id"])
        .groupby(["customer_id", "channel"], as_index=False)
        .tail(1)
    )
    return set(newest.loc[newest["consent_status"] == "opted_out", "customer_id"].astype(int))


def pii_variants(people: dict[str, pd.DataFrame]) -> tuple[set[str], set[str]]:
    """Every email and phone of every customer and lead in every normal form (as entered,
    trimmed, lower case, E.164, E.164 digits, digits only), and every name as written and
    in lower case."""
    identifiers: set[str] = set()
    names: set[str] = set()
    for table in people.values():
        for raw in table["email"].dropna():
            text = str(raw)
            identifiers |= {text, text.strip(), text.lower(), text.strip().lower()}
        for raw, country in zip(table["phone"], table["country_code"], strict=True):
            if is_missing(raw):
                continue
            text = str(raw)
            digits = "".join(character for character in text if character.isdigit())
            identifiers |= {text, text.strip(), digits, text.replace(" ", "")}
            normal = e164(raw, country)
            if normal is not None:
                identifiers |= {normal, normal[1:]}
        for column in ("first_name", "last_name"):
            for raw in table[column].dropna():
                names |= {str(raw), str(raw).lower()}
    return {variant for variant in identifiers if len(variant) >= 6}, names


def test_no_email_phone_or_name_reaches_an_export_or_the_members_table(people, exports, members):
    identifiers, names = pii_variants(people)
    assert len(identifiers) > 10_000 and len(names) > 50
    assert min(len(variant) for variant in identifiers if "@" not in variant) >= 8
    assert set(members.columns) == {
        "audience_name", "member_type", "member_id", "snapshot_date", "audience_rank",
        *HASH_COLUMNS,
    }  # fmt: skip
    # Every cell of the members table as text: no identifier inside any cell, no cell a name
    # (a name can be part of a word such as "lookalike", so names are matched whole there).
    cells = {
        "" if is_missing(value) else str(value)
        for row in members.itertuples(index=False)
        for value in row
    }
    text = "\n".join(sorted(cells))
    assert len(text) > 1000
    leaked = sorted(variant for variant in identifiers if variant in text)
    assert not leaked, ("ad_audience_members", leaked[:5])
    assert not cells & names
    # The files hold digests only: nothing of anybody, names included, anywhere in them.
    for (audience, platform), (_, path) in exports.items():
        header, _, body = path.read_text(encoding="utf-8").partition("\n")
        assert header.split(",") == HEADERS[platform]
        assert len(body) > 1000
        leaked = sorted(variant for variant in identifiers | names if variant in body)
        assert not leaked, (audience, platform, leaked[:5])


def test_every_identifier_is_a_lowercase_sha256_hex_digest(exports, members):
    for column in HASH_COLUMNS:
        values = members[column].dropna()
        assert len(values) > 0.9 * len(members), column
        assert values.map(lambda value: bool(SHA256_HEX.match(value))).all(), column
    for (_, platform), (_, path) in exports.items():
        exported = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert list(exported.columns) == HEADERS[platform]
        for column in exported.columns:
            cells = exported[column][exported[column] != ""]
            assert cells.map(lambda value: bool(SHA256_HEX.match(value))).all(), (path, column)


def test_hashes_equal_hashlib_of_the_independently_normalised_values(members, people):
    customers = people["customers"].set_index("customer_id")
    leads = people["leads"].set_index("lead_id")
    checked = {"email": 0, "phone": 0}
    for member in members.itertuples(index=False):
        person = (customers if member.member_type == "customer" else leads).loc[member.member_id]
        email = normal_email(person["email"])
        phone = e164(person["phone"], person["country_code"])
        assert none_if_missing(member.google_email_sha256) == sha256(email), member
        assert none_if_missing(member.meta_email_sha256) == sha256(email), member
        assert none_if_missing(member.google_phone_sha256) == sha256(phone), member
        assert none_if_missing(member.meta_phone_sha256) == sha256(
            None if phone is None else phone[1:]
        ), member
        checked["email"] += email is not None
        checked["phone"] += phone is not None
    assert checked["email"] > 100 and checked["phone"] > 100
    # Both platforms' phone digests differ (E.164 with + for Google, digits only for Meta).
    both = members.dropna(subset=["google_phone_sha256"])
    assert (both["google_phone_sha256"] != both["meta_phone_sha256"]).all()


def test_the_files_hold_the_members_with_an_identifier_in_rank_order_and_count_the_rest(
    exports, members
):
    for (audience, platform), (summary, path) in exports.items():
        email_column, phone_column = (column for _, column in AD_PLATFORMS[platform])
        audience_members = members[members["audience_name"] == audience].sort_values(
            ["audience_rank", "member_type", "member_id"]
        )
        has_any = audience_members[email_column].notna() | audience_members[phone_column].notna()
        expected = audience_members[has_any][[email_column, phone_column]].fillna("")
        exported = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert exported.values.tolist() == expected.values.tolist()
        assert summary.members == len(audience_members) > 50
        assert summary.with_email == audience_members[email_column].notna().sum()
        assert summary.with_phone == audience_members[phone_column].notna().sum()
        assert summary.left_out == (~has_any).sum()
        assert summary.rows == len(exported) == summary.members - summary.left_out


def test_opted_out_customers_and_leads_without_consent_never_appear(
    built, dbt, members, opted_out, people
):
    seed = dbt.query(
        built.warehouse,
        "select customer_id from audiences.lookalike_customer_profiles where is_seed",
    )["customer_id"]
    customer_members = set(members.loc[members["member_type"] == "customer", "member_id"])
    held_back = set(seed) & opted_out
    assert held_back, "the seed holds opted-out customers: the rule is exercised"
    assert customer_members == set(seed) - opted_out
    assert not customer_members & opted_out

    leads = people["leads"].set_index("lead_id")
    prospect_members = members.loc[members["member_type"] == "prospect", "member_id"]
    assert leads.loc[prospect_members, "has_marketing_consent"].all()
    scores = dbt.query(built.warehouse, "select * from audiences.lookalike_prospect_scores")
    cutoff = scores.loc[scores["is_in_audience"], "lookalike_score"].min()
    without_consent = scores[~scores["has_marketing_consent"]]
    assert (without_consent["lookalike_score"] > cutoff).sum() > 0, "consent mattered"
    assert not set(without_consent["lead_id"]) & set(prospect_members)


def test_existing_customers_never_appear_among_the_lookalike_prospects(built, dbt, people):
    prospects = dbt.query(built.warehouse, "select * from audiences.lookalike_prospects")
    customer_emails = {normal_email(email) for email in people["customers"]["email"]} - {None}
    lead_emails = people["leads"].set_index("lead_id").loc[prospects["lead_id"], "email"]
    assert not {normal_email(email) for email in lead_emails} & customer_emails
    scores = dbt.query(built.warehouse, "select * from audiences.lookalike_prospect_scores")
    leads = people["leads"].set_index("lead_id")
    recomputed = leads.loc[scores["lead_id"], "email"].map(normal_email).isin(customer_emails)
    assert scores["is_existing_customer"].tolist() == recomputed.tolist()


@pytest.fixture(scope="module")
def customer_profiles(built, dbt) -> pd.DataFrame:
    return dbt.query(built.warehouse, "select * from audiences.lookalike_customer_profiles")


def test_the_seed_is_the_top_fifth_by_value_and_says_which_value(built, dbt, customer_profiles):
    predictions = dbt.scalar(
        built.warehouse,
        "select count(*) from ml.customer_predicted_values where task = 'value_365d'",
    )
    expected_source = "value_365d" if predictions else "spend_12m"
    assert set(customer_profiles["seed_value_source"]) == {expected_source}
    features = dbt.query(
        built.warehouse,
        "select customer_id, total_spend, sessions_count_30d, email_clicks_count_30d "
        "from marts.customer_feature_snapshots where is_as_of_snapshot",
    )
    assert sorted(customer_profiles["customer_id"]) == sorted(features["customer_id"])
    merged = customer_profiles.merge(features, on="customer_id", suffixes=("", "_feature"))
    assert np.allclose(merged["total_spend"], merged["total_spend_feature"])
    assert (
        merged["visits_band"] == merged["sessions_count_30d"].map(lambda count: band(count, [1, 3]))
    ).all()
    assert (
        merged["email_clicks_band"]
        == merged["email_clicks_count_30d"].map(lambda count: band(count, [1, 2]))
    ).all()

    ranked = customer_profiles.assign(
        missing_value=customer_profiles["seed_value"].isna()
    ).sort_values(
        ["missing_value", "seed_value", "total_spend", "customer_id"],
        ascending=[True, False, False, True],
    )
    seed_size = math.ceil(len(ranked) * project_var("lookalike_seed_top_fraction"))
    expected_seed = set(ranked.head(seed_size).query("seed_value > 0")["customer_id"])
    assert set(customer_profiles.loc[customer_profiles["is_seed"], "customer_id"]) == expected_seed
    assert len(expected_seed) == seed_size > 300
    assert (
        ranked["customer_id"].tolist()
        == customer_profiles.sort_values("value_rank")["customer_id"].tolist()
    )


def recompute_index(profiles: pd.DataFrame, smoothing: float) -> pd.DataFrame:
    """The lookalike index of every attribute value, from the customer profiles."""
    rows = []
    for attribute in ATTRIBUTES:
        known = profiles.dropna(subset=[attribute])
        total, seed_total = len(known), int(known["is_seed"].sum())
        for value, group in known.groupby(attribute):
            count, seed_count = len(group), int(group["is_seed"].sum())
            expected = seed_total * count / total
            rows.append(
                {
                    "attribute_name": attribute,
                    "attribute_value": value,
                    "customers_count": count,
                    "seed_customers_count": seed_count,
                    "customer_share": count / total,
                    "seed_share": seed_count / seed_total,
                    "expected_seed_customers_count": expected,
                    "lookalike_index": (seed_count + smoothing) / (expected + smoothing),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def attribute_index(built, dbt) -> pd.DataFrame:
    return dbt.query(built.warehouse, "select * from audiences.lookalike_attribute_index")


def test_the_attribute_index_equals_a_pandas_recomputation(customer_profiles, attribute_index):
    expected = recompute_index(customer_profiles, project_var("lookalike_index_smoothing"))
    keys = ["attribute_name", "attribute_value"]
    merged = expected.merge(attribute_index, on=keys, how="outer", suffixes=("", "_sql"))
    assert len(merged) == len(expected) == len(attribute_index)
    assert set(attribute_index["attribute_name"]) == set(ATTRIBUTES)
    for column in ("customers_count", "seed_customers_count"):
        assert (merged[column] == merged[f"{column}_sql"]).all(), column
    for column in (
        "customer_share", "seed_share", "expected_seed_customers_count", "lookalike_index",
    ):  # fmt: skip
        assert np.allclose(merged[column], merged[f"{column}_sql"], rtol=1e-12, atol=0), column
    assert merged["lookalike_index"].max() > 1.2 and merged["lookalike_index"].min() < 0.8


@pytest.fixture(scope="module")
def prospect_scores(built, dbt) -> pd.DataFrame:
    return dbt.query(built.warehouse, "select * from audiences.lookalike_prospect_scores")


def test_prospect_scores_and_ranks_equal_a_pandas_recomputation(
    built, dbt, people, attribute_index, prospect_scores
):
    open_leads = dbt.query(
        built.warehouse,
        "select labels.lead_id, features.web_visits_count_30d, features.email_clicks_count_30d "
        "from intermediate.int_acquisition_labels as labels "
        "inner join intermediate.int_snapshot_dates as snapshots using (snapshot_date) "
        "left join marts.prospect_feature_snapshots as features using (lead_id, snapshot_date) "
        "where snapshots.is_as_of_snapshot",
    )
    leads = people["leads"].set_index("lead_id").loc[open_leads["lead_id"]].reset_index()
    profiles = pd.DataFrame(
        {
            "lead_id": open_leads["lead_id"],
            "region": leads["region"],
            "country_code": leads["country_code"],
            "acquisition_channel": leads["lead_source"],
            "visits_band": open_leads["web_visits_count_30d"].map(lambda c: band(c, [1, 3])),
            "email_clicks_band": open_leads["email_clicks_count_30d"].map(
                lambda c: band(c, [1, 2])
            ),
        }
    )
    index = {
        (row.attribute_name, row.attribute_value): row.lookalike_index
        for row in attribute_index.itertuples()
    }
    logs = []
    for profile in profiles.itertuples(index=False):
        values = [
            math.log(index.get((attribute, getattr(profile, attribute)), 1.0))
            for attribute in ATTRIBUTES
            if not is_missing(getattr(profile, attribute))
        ]
        logs.append(math.exp(sum(values) / len(values)))
    profiles["lookalike_score"] = logs

    customer_emails = {normal_email(email) for email in people["customers"]["email"]} - {None}
    profiles["is_eligible"] = leads["has_marketing_consent"].astype(bool) & ~leads["email"].map(
        normal_email
    ).isin(customer_emails)
    sql = prospect_scores.set_index("lead_id").loc[profiles["lead_id"]]
    assert len(sql) == len(prospect_scores) == len(profiles) > 500
    for attribute in ATTRIBUTES:
        assert (
            sql[attribute].fillna("<null>").tolist()
            == profiles[attribute].fillna("<null>").tolist()
        ), attribute
    assert np.allclose(sql["lookalike_score"], profiles["lookalike_score"], rtol=1e-12, atol=0)
    assert sql["is_eligible"].tolist() == profiles["is_eligible"].tolist()

    eligible = profiles[profiles["is_eligible"]].assign(
        acquisition_score=sql.loc[
            profiles.loc[profiles["is_eligible"], "lead_id"], "acquisition_score"
        ].to_numpy(),
        rounded_score=lambda frame: frame["lookalike_score"].round(10),
    )
    eligible["no_acquisition_score"] = eligible["acquisition_score"].isna()
    ranked = eligible.sort_values(
        ["rounded_score", "no_acquisition_score", "acquisition_score", "lead_id"],
        ascending=[False, True, False, True],
    )
    assert (
        ranked["lead_id"].tolist()
        == (
            prospect_scores.dropna(subset=["eligible_rank"]).sort_values("eligible_rank")["lead_id"]
        ).tolist()
    )

    audience = dbt.query(
        built.warehouse, "select * from audiences.lookalike_prospects order by lookalike_rank"
    )
    size = math.ceil(len(ranked) * project_var("lookalike_audience_top_fraction"))
    assert audience["lead_id"].tolist() == ranked["lead_id"].head(size).tolist()
    assert audience["lookalike_rank"].tolist() == list(range(1, size + 1))
    scores = dbt.query(
        built.warehouse,
        "select lead_id, score from ml.acquisition_scores "
        "inner join intermediate.int_snapshot_dates using (snapshot_date) "
        "where is_as_of_snapshot",
    ).set_index("lead_id")["score"]
    assert np.allclose(audience["acquisition_score"], scores.loc[audience["lead_id"]])


def test_the_lookalike_audience_over_represents_the_seed_profile(built, dbt, prospect_scores):
    audience = dbt.query(built.warehouse, "select * from audiences.lookalike_prospects")
    assert audience["lookalike_score"].mean() > 1.05 * prospect_scores["lookalike_score"].mean()
    assert (
        audience["lookalike_score"].min()
        >= prospect_scores.loc[prospect_scores["is_eligible"], "lookalike_score"].median()
    )


def test_cli_export_ads_writes_the_platform_columns_and_prints_the_counts(
    built, tmp_path, capsys, exports
):
    out = tmp_path / "cli" / "meta.csv"
    code = main(
        [
            "export-ads",
            "--audience",
            "lookalike_prospects",
            "--platform",
            "meta",
            "--out",
            str(out),
            "--warehouse",
            str(built.warehouse),
        ]
    )
    assert code == 0
    summary, reference = exports["lookalike_prospects", "meta"]
    assert out.read_text() == reference.read_text()
    assert out.read_text().startswith("email,phone\n")
    printed = capsys.readouterr().out
    assert f"wrote {summary.rows:,} rows of lookalike_prospects for meta" in printed
    assert f"{summary.members:,} members, {summary.with_email:,} with email" in printed
    assert f"{summary.with_phone:,} with phone, {summary.left_out:,} left out" in printed


@pytest.mark.parametrize(
    ("audience", "platform", "wrong", "valid"),
    [
        ("no_such_audience", "google", "audience 'no_such_audience'", AD_AUDIENCES),
        ("lookalike_prospects", "tiktok", "platform 'tiktok'", tuple(AD_PLATFORMS)),
    ],
)
def test_unknown_audiences_and_platforms_are_refused_naming_the_valid_ones(
    built, tmp_path, capsys, audience, platform, wrong, valid
):
    out = tmp_path / "x.csv"
    with pytest.raises(ExportError):
        export_ad_audience(built.warehouse, audience, platform, out)
    code = main(
        [
            "export-ads", "--audience", audience, "--platform", platform, "--out", str(out),
            "--warehouse", str(built.warehouse),
        ]
    )  # fmt: skip
    assert code == 1
    error = capsys.readouterr().err
    assert f"unknown {wrong}" in error
    for name in valid:
        assert name in error
    assert not out.exists()


def small_warehouse(path: Path, rows: list[tuple]) -> Path:
    """A warehouse holding only audiences.ad_audience_members with the given rows."""
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema audiences")
        connection.execute(
            "create table audiences.ad_audience_members (audience_name varchar, member_type "
            "varchar, member_id bigint, snapshot_date date, audience_rank bigint, "
            "google_email_sha256 varchar, google_phone_sha256 varchar, "
            "meta_email_sha256 varchar, meta_phone_sha256 varchar)"
        )
        connection.executemany(
            "insert into audiences.ad_audience_members values "
            "(?, 'prospect', ?, date '2026-11-01', ?, ?, ?, ?, ?)",
            rows,
        )
    return path


def test_members_without_identifiers_are_left_out_and_counted_in_rank_order(tmp_path):
    email, phone = sha256("a@b.io"), sha256("+442079460000")
    warehouse = small_warehouse(
        tmp_path / "small.duckdb",
        [
            ("lookalike_prospects", 7, 3, None, phone, None, sha256("442079460000")),
            ("lookalike_prospects", 8, 2, None, None, None, None),
            ("lookalike_prospects", 9, 1, email, None, email, None),
            ("best_customers_seed", 1, 1, email, phone, email, phone),
        ],
    )
    summary = export_ad_audience(warehouse, "lookalike_prospects", "google", tmp_path / "g.csv")
    assert (tmp_path / "g.csv").read_text() == f"Email,Phone\n{email},\n,{phone}\n"
    assert (summary.members, summary.with_email, summary.with_phone, summary.left_out) == (
        3, 1, 1, 1,
    )  # fmt: skip
    assert summary.rows == 2


def test_an_identifier_that_is_not_a_digest_stops_the_export(tmp_path):
    warehouse = small_warehouse(
        tmp_path / "leaky.duckdb",
        [("lookalike_prospects", 1, 1, "anna@example.com", None, None, None)],
    )
    out = tmp_path / "leak.csv"
    with pytest.raises(ExportError, match="not a SHA-256 hex digest"):
        export_ad_audience(warehouse, "lookalike_prospects", "google", out)
    assert not out.exists()
