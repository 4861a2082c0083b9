"""The report's plain words: number formats, scorer names, the verdict and other sentences.

Shared by the HTML page and the terminal summary; nothing here knows about markup.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from propensity.economics import CampaignProfit
from propensity.truth import TRUTH_GOAL_ROC_AUC, TruthComparison

SEGMENT_MIN_ROC_AUC = 0.6  # segments ranked worse than this are flagged
SEGMENT_MIN_LIFT = 1.0  # segments whose top decile is no better than average are flagged

# How the verdict names each scorer; other names fall back to "the <name> rule/model".
SCORER_PHRASES = {
    "random": "random targeting",
    "engagement": "the engagement rule (top 20% by engagement)",
    "recency": "the recency rule",
    "logistic_regression": "the logistic model",
    "logistic_regression_strong": "the strongly regularised logistic model",
    "hist_gradient_boosting": "the gradient-boosted trees",
    "hist_gradient_boosting_shallow": "the shallow gradient-boosted trees",
}
SCORER_LABELS = {
    "random": "random",
    "engagement": "engagement rule",
    "recency": "recency rule",
    "logistic_regression": "logistic regression",
    "logistic_regression_strong": "logistic regression (strong L2)",
    "hist_gradient_boosting": "gradient boosting",
    "hist_gradient_boosting_shallow": "gradient boosting (shallow)",
}

MISSING = "\u2014"  # an em dash stands for a missing number or date


def is_missing(value: Any) -> bool:
    """Whether a value is None, pd.NA, pd.NaT or a NaN number."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return math.isnan(value)
    except TypeError:
        return False


def fixed(value: Any, digits: int = 4) -> str:
    """A number with fixed decimals; an em dash for a missing one."""
    return MISSING if is_missing(value) else f"{float(value):.{digits}f}"


def percent(value: Any, digits: int = 1) -> str:
    """A share as a percentage with fixed decimals; an em dash for a missing one."""
    return MISSING if is_missing(value) else f"{float(value) * 100:.{digits}f}%"


def integer(value: Any) -> str:
    """A whole number with thousands separators; an em dash for a missing one."""
    return MISSING if is_missing(value) else f"{int(value):,}"


def money(value: float) -> str:
    """An amount of money, whole, with thousands separators."""
    return f"{value:,.0f}"


def date_text(value: Any) -> str:
    """A date as YYYY-MM-DD (other values as they print); an em dash for a missing one."""
    if is_missing(value):
        return MISSING
    if isinstance(value, datetime | pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    return str(value)


def scorer_phrase(name: str, evaluation: Mapping[str, Any]) -> str:
    """How a sentence names a scorer ("random targeting", "the logistic model")."""
    if name in SCORER_PHRASES:
        return SCORER_PHRASES[name]
    kind = "model" if name in evaluation.get("candidates", ()) else "rule"
    return f"the {name.replace('_', ' ')} {kind}"


def scorer_label(name: str) -> str:
    """A scorer's short name for tables and legends."""
    return SCORER_LABELS.get(name, name.replace("_", " "))


def ordered_comparisons(evaluation: Mapping[str, Any]) -> list[dict]:
    """Comparisons with the baselines first (in their order), then the other candidates."""
    baselines = list(evaluation.get("baselines", []))
    comparisons = list(evaluation.get("comparison", []))

    def rank(entry: dict) -> tuple[int, int, str]:
        name = entry["scorer"]
        if name in baselines:
            return (0, baselines.index(name), name)
        return (1, 0, name)

    return sorted(comparisons, key=rank)


def verdict_line(entry: Mapping[str, Any], evaluation: Mapping[str, Any]) -> str:
    """One plain sentence: whether the chosen model beats one scorer on pooled PR-AUC, and by
    how much (PR-AUC points, top-decile lift, share of positives in the top 20%)."""
    name = scorer_phrase(str(entry["scorer"]), evaluation)
    pr_auc, lift, recall = entry["pr_auc"], entry["lift_top_decile"], entry["recall_at_20"]
    model_pr, other_pr = pr_auc["model"], pr_auc["scorer"]
    model_lift, other_lift = lift["model"], lift["scorer"]
    if model_pr is None or other_pr is None:
        return f"The model cannot be compared with {name}: PR-AUC is undefined on these rows."
    points = (model_pr - other_pr) * 100
    if model_lift is not None and other_lift:
        lift_text = (
            f"{model_lift / other_lift:.1f}\u00d7 the top-decile lift "
            f"({model_lift:.2f} vs {other_lift:.2f})"
        )
    else:
        lift_text = f"top-decile lift {fixed(model_lift, 2)} vs {fixed(other_lift, 2)}"
    recall_text = ""
    if recall["model"] is not None and recall["scorer"] is not None:
        recall_text = (
            f"; contacting the top 20% finds {recall['model']:.0%} of the positives "
            f"vs {recall['scorer']:.0%}"
        )
    if entry["model_beats_it"]:
        return (
            f"The model beats {name} by {points:.1f} PR-AUC points "
            f"({model_pr:.3f} vs {other_pr:.3f}) with {lift_text}{recall_text}."
        )
    how = "the same PR-AUC" if points == 0 else f"a PR-AUC {abs(points):.1f} points lower"
    return (
        f"The model does NOT beat {name}: it has {how} "
        f"({model_pr:.3f} vs {other_pr:.3f}); {lift_text}{recall_text}."
    )


def verdict_lines(evaluation: Mapping[str, Any]) -> list[str]:
    """The verdict against every other scorer, baselines first."""
    return [verdict_line(entry, evaluation) for entry in ordered_comparisons(evaluation)]


def beats_summary(evaluation: Mapping[str, Any]) -> str:
    """One line: how many of the other scorers the model beats, naming those it does not."""
    comparisons = ordered_comparisons(evaluation)
    losing = [scorer_label(entry["scorer"]) for entry in comparisons if not entry["model_beats_it"]]
    total = len(comparisons)
    if not losing:
        return f"beats all {total} other scorers on pooled PR-AUC"
    return (
        f"beats {total - len(losing)} of {total} other scorers on pooled PR-AUC; "
        f"does NOT beat: {', '.join(losing)}"
    )


def segment_flags(segment: Mapping[str, Any]) -> list[str]:
    """Why a segment is flagged: ROC-AUC below SEGMENT_MIN_ROC_AUC, lift below 1."""
    flags = []
    roc_auc, lift = segment.get("roc_auc"), segment.get("lift_top_decile")
    if roc_auc is None:
        flags.append("one class only: cannot rank")
    elif roc_auc < SEGMENT_MIN_ROC_AUC:
        flags.append(f"ROC-AUC below {SEGMENT_MIN_ROC_AUC}")
    if lift is not None and lift < SEGMENT_MIN_LIFT:
        flags.append(f"lift below {SEGMENT_MIN_LIFT:g}")
    return flags


def importance_label(row: Mapping[str, Any]) -> str:
    """A feature's description with its {value} placeholder shown as an ellipsis."""
    description = str(row.get("description") or row["feature"])
    return description.replace("{value}", "\u2026")


def rule_text(profit: CampaignProfit) -> str:
    """A campaign's audience rule in words ("top 20%", "score \u2265 0.3")."""
    value = profit.rule_value
    if profit.rule == "top_percent" and value is not None:
        return f"top {value:g}%"
    if profit.rule == "top_n" and value is not None:
        return f"top {value:,.0f}"
    if profit.rule == "min_score" and value is not None:
        return f"score \u2265 {value:g}"
    if profit.rule == "max_profit":
        return "maximum expected profit" + (" within capacity" if profit.capacity else "")
    return profit.rule


def profit_sentence(profit: CampaignProfit) -> str:
    """What a campaign is worth, where its rule lands on the curve and what its capacity is."""
    curve = profit.curve
    economics = profit.economics
    parts = [
        f"{profit.campaign_id} ({profit.channel}): an accepted offer is worth "
        f"{money(economics.value_per_conversion)} at a {economics.margin_rate:.0%} margin; "
        f"a contact costs {economics.cost_per_contact:g}."
    ]
    if profit.rule_at is not None:
        gap = curve.expected[profit.best_within_capacity] - curve.expected[profit.rule_at]
        parts.append(
            f"Its rule ({rule_text(profit)}) contacts {percent(curve.shares[profit.rule_at])} "
            f"for an expected profit of {money(curve.expected[profit.rule_at])} "
            f"(realised {money(curve.realised[profit.rule_at])}); "
            + (
                "that is the best audience size."
                if abs(gap) < 0.5
                else f"the best audience size would expect {money(gap)} more."
            )
        )
    else:
        parts.append(f"Its rule {profit.rule!r} cannot be placed on the curve.")
    if profit.max_contacts is not None:
        if profit.capacity is None:
            parts.append(
                f"The capacity of {profit.max_contacts:,} contacts cannot be placed: the as-of "
                "population is unknown."
            )
        else:
            parts.append(
                f"The capacity of {profit.max_contacts:,} contacts is "
                f"{profit.max_contacts / profit.population:.1%} of the "
                f"{profit.population:,} customers scored now."
            )
    return " ".join(parts)


def interval_text(interval: tuple[float, float] | None) -> str:
    """A 95% interval as [low, high] (empty without one)."""
    return "" if interval is None else f"[{interval[0]:.4f}, {interval[1]:.4f}]"


def goal_noise_text(pooled: TruthComparison) -> str:
    """Whether the rows can tell the pooled gap from the goal (empty without an interval)."""
    if pooled.gap_interval is None:
        return ""
    verdict = (
        "includes the goal: these rows cannot tell the gap from it"
        if pooled.goal_in_interval
        else "excludes the goal"
    )
    return f"its 95% interval {interval_text(pooled.gap_interval)} {verdict}"


def truth_sentence(pooled: TruthComparison) -> str:
    """Whether the pooled model ROC-AUC is within TRUTH_GOAL_ROC_AUC of the truth's, and
    whether the gap's bootstrap interval can tell it from the goal."""
    noise = goal_noise_text(pooled)
    return (
        f"Pooled, the model's ROC-AUC is {pooled.roc_auc_gap:.4f} below the truth's "
        f"({pooled.model_roc_auc:.4f} vs {pooled.truth_roc_auc:.4f}): "
        + (
            f"within the {TRUTH_GOAL_ROC_AUC} goal"
            if pooled.meets_goal
            else f"it misses the {TRUTH_GOAL_ROC_AUC} goal"
        )
        + (f"; {noise} (bootstrap over customers)." if noise else ".")
    )
