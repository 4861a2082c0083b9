"""Campaign economics: expected and realised profit over audience size (pure, on arrays).

Rows are ranked by score; contacting the top k rows expects the sum of their scores times
the margin per conversion, less k times the cost per contact, and realises the same with the
outcomes in place of the scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# The config.campaigns columns that hold a campaign's economics.
ECONOMICS_COLUMNS = ("value_per_conversion", "margin_rate", "cost_per_contact", "max_contacts")


@dataclass(frozen=True)
class Economics:
    """What an accepted offer is worth and what a contact costs."""

    value_per_conversion: float
    margin_rate: float
    cost_per_contact: float

    @property
    def margin_per_conversion(self) -> float:
        """The margin one conversion brings."""
        return self.value_per_conversion * self.margin_rate


@dataclass(frozen=True)
class ProfitCurve:
    """Profit of contacting the best-scored k rows, k = 0..n (index k)."""

    shares: np.ndarray  # k / n
    expected: np.ndarray  # sum of the top k scores x margin per conversion - k x cost
    realised: np.ndarray  # the same with the labels in place of the scores


def profit_curve(scores: np.ndarray, labels: np.ndarray, economics: Economics) -> ProfitCurve:
    """Expected and realised profit of contacting the top k rows by score, for every k.

    Rows are ranked by score, best first (ties keep row order, as the evaluation does).
    """
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=float)
    if scores.shape != labels.shape:
        raise ValueError("scores and labels must have the same length")
    order = np.argsort(-scores, kind="stable")
    contacts = np.arange(len(scores) + 1, dtype=float)
    margin = economics.margin_per_conversion
    cost = contacts * economics.cost_per_contact
    expected = np.concatenate([[0.0], np.cumsum(scores[order])]) * margin - cost
    realised = np.concatenate([[0.0], np.cumsum(labels[order])]) * margin - cost
    shares = contacts / len(scores) if len(scores) else contacts
    return ProfitCurve(shares=shares, expected=expected, realised=realised)


def best_contacts(curve: ProfitCurve, max_contacts: int | None = None) -> int:
    """The number of contacts (k) with the highest expected profit, at most max_contacts;
    the smallest such k on ties."""
    last = len(curve.expected) - 1
    if max_contacts is not None:
        last = max(0, min(last, max_contacts))
    return int(np.argmax(curve.expected[: last + 1]))


def capacity_contacts(max_contacts: int | None, population: int | None, rows: int) -> int | None:
    """A campaign's capacity in rows of the evaluated set: max_contacts as a share of the
    as-of population, applied to `rows` (None without a capacity or a population)."""
    if max_contacts is None or not population:
        return None
    return min(rows, math.floor(max_contacts / population * rows + 1e-9))


def rule_contacts(
    rule: str,
    rule_value: float | None,
    scores: np.ndarray,
    *,
    population: int | None,
    best: int,
) -> int | None:
    """How many of the rows a campaign's audience rule contacts (as campaign_audiences
    applies it); `best` is the max_profit audience. None for an unknown rule."""
    rows = len(scores)
    if rule == "all":
        return rows
    if rule == "max_profit":
        return best
    if rule_value is None or (isinstance(rule_value, float) and math.isnan(rule_value)):
        return None
    if rule == "top_percent":
        return min(rows, math.ceil(rows * rule_value / 100.0 - 1e-9))
    if rule == "top_n":
        if population:
            return min(rows, round(rule_value / population * rows))
        return min(rows, int(rule_value))
    if rule == "min_score":
        return int(np.sum(np.asarray(scores) >= rule_value))
    return None


@dataclass(frozen=True)
class CampaignProfit:
    """One campaign's profit curve on the validation rows and where its choices land."""

    campaign_id: str
    channel: str
    rule: str
    rule_value: float | None
    economics: Economics
    max_contacts: int | None
    rows: int
    population: int | None
    curve: ProfitCurve
    best: int  # contacts with the highest expected profit (no capacity)
    best_within_capacity: int
    capacity: int | None  # max_contacts in validation rows
    rule_at: int | None  # contacts the campaign's own rule makes

    def scale(self) -> float | None:
        """Validation rows to as-of population: multiply a profit by this to scale it."""
        return self.population / self.rows if self.population and self.rows else None


def campaign_profit(
    campaign: Mapping[str, Any],
    scores: np.ndarray,
    labels: np.ndarray,
    population: int | None,
) -> CampaignProfit:
    """The profit curve of one campaign (a config.campaigns row) on scored, labelled rows."""
    economics = Economics(
        value_per_conversion=float(campaign["value_per_conversion"]),
        margin_rate=float(campaign["margin_rate"]),
        cost_per_contact=float(campaign["cost_per_contact"]),
    )
    max_contacts = _optional_int(campaign.get("max_contacts"))
    curve = profit_curve(scores, labels, economics)
    capacity = capacity_contacts(max_contacts, population, len(scores))
    best_within = best_contacts(curve, capacity)
    rule_value = _optional_float(campaign.get("audience_rule_value"))
    rule = str(campaign["audience_rule"])
    return CampaignProfit(
        campaign_id=str(campaign["campaign_id"]),
        channel=str(campaign.get("channel") or ""),
        rule=rule,
        rule_value=rule_value,
        economics=economics,
        max_contacts=max_contacts,
        rows=len(scores),
        population=population,
        curve=curve,
        best=best_contacts(curve),
        best_within_capacity=best_within,
        capacity=capacity,
        rule_at=rule_contacts(rule, rule_value, scores, population=population, best=best_within),
    )


def _optional_float(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _optional_int(value: Any) -> int | None:
    number = _optional_float(value)
    return None if number is None else int(number)
