"""End to end: the per-customer reasons behind the up-sell scores (ml.score_reasons), the
audience's reason columns and the export, on the session's built warehouse (read-only)."""

from __future__ import annotations

import json
import math
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from propensity.export import export_campaign

TASK = "upsell"
REASONS = 3
LOG_ODDS_TOLERANCE = 1e-4
PLACEHOLDER = "__propensity_features__"


def value_format(feature: str) -> str:
    """The documented formatting rule of a feature, from its name (macro reason_value_format)."""
    words = feature.lower().split("_")
    if feature.startswith(("is_", "has_")):
        return "flag"
    if {"momentum", "trend", "growth"} & set(words):
        return "signed_percent"
    if {"rate", "share"} & set(words):
        return "percent"
    if {"spend", "value", "revenue", "amount", "price"} & set(words):
        return "money"
    return "number"


def _rounded(value: float, places: int) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _number(value: float) -> str:
    one_decimal = _rounded(value, 1)
    if one_decimal == _rounded(value, 0):
        return str(int(_rounded(value, 0)))
    return str(one_decimal)


def formatted(feature: str, value: float) -> str:
    """A feature value as a reason shows it (see the score_reasons docs)."""
    kind = value_format(feature)
    if kind == "flag":
        return "yes"
    if kind == "money":
        return str(_rounded(value, 2))
    if kind == "percent":
        return _number(100 * value) + "%"
    if kind == "signed_percent":
        return ("+" if value > 0 else "") + _number(100 * value) + "%"
    return _number(value)


def near_a_rounding_tie(feature: str, value: float) -> bool:
    """True when the value sits (within float noise) on a .5 of its last shown decimal, where
    SQL's and Python's decimal rounding may legitimately differ."""
    kind = value_format(feature)
    scaled = {"money": value * 100, "percent": value * 1000, "signed_percent": value * 1000}.get(
        kind, value * 10
    )
    return abs(abs(scaled - math.floor(scaled)) - 0.5) < 1e-6


@pytest.fixture(scope="module")
def registry_row(built, dbt) -> dict[str, object]:
    """The registry row of the model that scored the as-of population."""
    versions = dbt.rows(built.warehouse, "select distinct model_version from ml.upsell_scores")
    assert len(versions) == 1
    frame = dbt.query(
        built.warehouse,
        "select * from ml.model_registry where model_version = ?",
        [versions[0][0]],
    )
    assert len(frame) == 1
    row = frame.iloc[0].to_dict()
    row["feature_columns"] = json.loads(row["feature_columns"])
    return row


@pytest.fixture(scope="module")
def explained(built, dbt, registry_row) -> pd.DataFrame:
    """Every scored customer with its score, every feature's value and its contribution, by the
    registry's explanation SQL run here on the feature rows."""
    features = registry_row["feature_columns"]
    population = """(
        select features.*
        from marts.customer_feature_snapshots as features
        inner join ml.upsell_scores as scores
            on features.customer_id = scores.customer_id
            and features.snapshot_date = scores.snapshot_date
    )"""
    sql = registry_row["explanation_sql"].replace(PLACEHOLDER, population)
    values = ", ".join(f'features."{f}" as "value__{f}"' for f in features)
    frame = dbt.query(
        built.warehouse,
        f"""
        select explained.*, scores.score, scores.model_version, {values}
        from ({sql}) as explained
        inner join ml.upsell_scores as scores
            on explained.customer_id = scores.customer_id
            and explained.snapshot_date = scores.snapshot_date
        inner join marts.customer_feature_snapshots as features
            on explained.customer_id = features.customer_id
            and explained.snapshot_date = features.snapshot_date
        """,
    )
    scored = dbt.scalar(built.warehouse, "select count(*) from ml.upsell_scores")
    assert len(frame) == scored > 100
    return frame


@pytest.fixture(scope="module")
def reasons(built, dbt) -> pd.DataFrame:
    return dbt.query(built.warehouse, "select * from ml.score_reasons where task = ?", [TASK])


def expected_reasons(explained: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The top-3 positive contributions recomputed here: a missing value or a false flag is
    never a reason; ties go to the feature name."""
    rows = []
    for record in explained.to_dict("records"):
        candidates = []
        for feature in features:
            value = record[f"value__{feature}"]
            contribution = record[f"contribution__{feature}"]
            if value is None or pd.isna(value) or contribution <= 0:
                continue
            value = float(value)
            if value_format(feature) == "flag" and value != 1:
                continue
            candidates.append((-contribution, feature, value))
        for rank, (negative, feature, value) in enumerate(sorted(candidates)[:REASONS], start=1):
            rows.append(
                {
                    "customer_id": record["customer_id"],
                    "reason_rank": rank,
                    "feature_name": feature,
                    "feature_value": value,
                    "contribution": -negative,
                }
            )
    return pd.DataFrame(rows)


def test_contributions_add_up_to_the_uncalibrated_log_odds(registry_row, explained) -> None:
    features = registry_row["feature_columns"]
    contributions = explained[[f"contribution__{f}" for f in features]].to_numpy(dtype=float)
    score = explained["score"].to_numpy(dtype=float)
    assert ((score > 0) & (score < 1)).all()
    log_odds = np.log(score) - np.log1p(-score)
    if registry_row["calibration"] == "platt":
        platt = json.loads(registry_row["evaluation_json"])["calibration"]
        assert platt["slope"] > 0
        # q = sigmoid(slope * logit(p) + intercept), so logit(p) = (logit(q) - intercept) / slope
        log_odds = (log_odds - platt["intercept"]) / platt["slope"]
    else:
        assert registry_row["calibration"] == "none"
    explained_log_odds = registry_row["explanation_bias"] + contributions.sum(axis=1)
    np.testing.assert_allclose(explained_log_odds, log_odds, rtol=0, atol=LOG_ODDS_TOLERANCE)
    # The contributions carry the ranking: they are neither all zero nor all one sign.
    assert (contributions > 0).any() and (contributions < 0).any()


def test_reasons_are_the_top_positive_contributions(registry_row, explained, reasons) -> None:
    expected = expected_reasons(explained, registry_row["feature_columns"])
    actual = reasons.sort_values(["customer_id", "reason_rank"]).reset_index(drop=True)
    expected = expected.sort_values(["customer_id", "reason_rank"]).reset_index(drop=True)
    assert len(actual) > 2 * len(explained)  # most customers have three reasons
    key = ["customer_id", "reason_rank", "feature_name"]
    assert actual[key].to_dict("records") == expected[key].to_dict("records")
    np.testing.assert_allclose(actual["contribution"], expected["contribution"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(actual["feature_value"], expected["feature_value"], rtol=1e-12)
    assert (actual["contribution"] > 0).all()
    assert set(actual["model_version"]) == {registry_row["model_version"]}
    assert set(actual["snapshot_date"]) == set(explained["snapshot_date"])
    # Within a customer the contributions never rise with the rank.
    steps = actual.groupby("customer_id")["contribution"].diff().dropna()
    assert (steps <= 0).all()


def test_reasons_read_as_their_template_with_a_readable_value(built, dbt, reasons) -> None:
    templates = dict(
        dbt.rows(
            built.warehouse,
            "select feature_name, reason_template from config.task_features where task = ?",
            [TASK],
        )
    )
    assert reasons["feature_name"].isin(list(templates)).all()
    assert not reasons["reason"].str.contains("null|nan|None|{value}", case=False).any()
    exact = 0
    for row in reasons.to_dict("records"):
        feature, value, reason = row["feature_name"], row["feature_value"], row["reason"]
        template = templates[feature]
        kind = value_format(feature)
        if "{value}" not in template:
            assert kind == "flag" and value == 1 and reason == template.replace("{s}", "s")
            continue
        # The template with {value} (and a plural {s}) as the only free parts.
        pattern = re.escape(template).replace(r"\{value\}", "(?P<value>.+?)")
        pattern = pattern.replace(r"\{s\}", "(?P<s>s?)")
        match = re.fullmatch(pattern, reason)
        assert match, (reason, template)
        shown = match.group("value")
        if "{s}" in template:
            assert match.group("s") == ("" if shown == "1" else "s"), reason
        # The shape of the number, and that it is the value rounded to what it shows.
        shape = {
            "money": r"-?\d+\.\d{2}",
            "percent": r"-?\d+(\.\d)?%",
            "signed_percent": r"[+-]?\d+(\.\d)?%",
            "number": r"-?\d+(\.\d)?",
        }[kind]
        assert re.fullmatch(shape, shown), (feature, value, shown)
        assert not re.fullmatch(r"-?\d+\.0%?", shown)  # no trailing .0
        number = float(shown.rstrip("%"))
        target = 100 * value if kind.endswith("percent") else value
        last_place = 0.01 if kind == "money" else (1 if "." not in shown else 0.1)
        assert abs(number - target) <= last_place / 2 + 1e-9, (feature, value, shown)
        if kind == "signed_percent" and value > 0:
            assert shown.startswith("+")
        if not near_a_rounding_tie(feature, value):
            text = formatted(feature, value)
            plural = "" if text == "1" else "s"
            assert reason == template.replace("{value}", text).replace("{s}", plural)
            exact += 1
    assert exact > 0.9 * len(reasons)


def test_hand_checked_reason_texts(built, dbt, reasons) -> None:
    """Reasons spelled out by hand for features of each kind: counts and days as integers,
    money with two decimals, a rate as a percentage."""
    templates = dict(
        dbt.rows(
            built.warehouse,
            "select feature_name, reason_template from config.task_features where task = ?",
            [TASK],
        )
    )
    spelled = {
        "orders_count_90d": lambda v: str(int(v)),
        "tenure_days": lambda v: str(int(v)),
        "days_since_last_order": lambda v: str(int(v)),
        "total_spend": lambda v: f"{v:.2f}",
        "average_order_value": lambda v: f"{v:.2f}",
        "email_click_rate_30d": lambda v: f"{100 * v:.1f}".removesuffix(".0") + "%",
    }
    checked = set()
    for row in reasons.to_dict("records"):
        feature, value = row["feature_name"], row["feature_value"]
        if feature not in spelled or near_a_rounding_tie(feature, value):
            continue
        if value_format(feature) == "number":
            assert value == int(value)  # these features are whole numbers
        text = spelled[feature](value)
        plural = "" if text == "1" else "s"
        assert row["reason"] == templates[feature].replace("{value}", text).replace("{s}", plural)
        checked.add(feature)
    assert len(checked) >= 4, checked


def test_audience_reason_columns_match_score_reasons(built, dbt) -> None:
    """Every campaign's reason_1-3 are its task's reasons for the scored row (for cross-sell,
    the customer and the recommended category)."""
    audience = dbt.query(
        built.warehouse,
        """
        select audiences.*, campaigns.task, scores.entity_key
        from audiences.campaign_audiences as audiences
        inner join config.campaigns as campaigns on audiences.campaign_id = campaigns.campaign_id
        inner join audiences.audience_scores as scores
            on campaigns.task = scores.task and audiences.customer_id = scores.customer_id
        """,
    )
    assert len(audience) > 0 and audience["task"].nunique() >= 3
    every_reason = dbt.query(built.warehouse, "select * from ml.score_reasons")
    wide = every_reason.pivot(
        index=["task", "entity_key", "snapshot_date"], columns="reason_rank", values="reason"
    )
    for record in audience.to_dict("records"):
        key = (record["task"], record["entity_key"], record["snapshot_date"])
        found = wide.loc[key] if key in wide.index else pd.Series(dtype=object)
        for rank in range(1, REASONS + 1):
            want = found.get(rank)
            want = None if want is None or pd.isna(want) else want
            got = record[f"reason_{rank}"]
            got = None if got is None or pd.isna(got) else got
            assert got == want, (key, rank)
    # An uplift task has no per-feature reasons (its score is a difference of two models).
    is_uplift = audience["is_incremental_profit"].astype(bool)
    assert audience.loc[is_uplift, "reason_1"].isna().all()
    assert audience.loc[~is_uplift, "reason_1"].notna().mean() > 0.9
    # A later reason never appears without the earlier ones.
    assert not (audience["reason_2"].notna() & audience["reason_1"].isna()).any()
    assert not (audience["reason_3"].notna() & audience["reason_2"].isna()).any()


def test_export_carries_the_reasons(built, dbt, tmp_path: Path) -> None:
    campaign = dbt.scalar(
        built.warehouse,
        "select campaign_id from audiences.campaign_audiences "
        "group by campaign_id order by count(*) desc, campaign_id limit 1",
    )
    summary = export_campaign(
        built.warehouse, campaign, "parquet", tmp_path / "audience.parquet", include_control=True
    )
    exported = pd.read_parquet(summary.path)
    audience = dbt.query(
        built.warehouse,
        "select * from audiences.campaign_audiences where campaign_id = ? order by audience_rank",
        [campaign],
    )
    assert summary.rows == len(audience) > 0
    for column in ("reason_1", "reason_2", "reason_3"):
        assert exported[column].fillna("").tolist() == audience[column].fillna("").tolist()
