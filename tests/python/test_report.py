"""The model card: profit curves, charts, verdict wording, truth gap and the page end to end."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from propensity import charts
from propensity.cli import main
from propensity.economics import (
    Economics,
    best_contacts,
    campaign_profit,
    capacity_contacts,
    profit_curve,
    rule_contacts,
)
from propensity.report import ReportError, load_card, write_reports
from propensity.report_html import METRIC_COLUMNS, render_card
from propensity.report_text import (
    beats_summary,
    importance_label,
    scorer_label,
    segment_flags,
    verdict_lines,
)
from propensity.truth import (
    TRUTH_GOAL_ROC_AUC,
    gap_interval,
    truth_gap,
    weighted_roc_auc,
)

# --------------------------------------------------------------------------------------------
# Profit curve on a hand-computed example
# --------------------------------------------------------------------------------------------

# Ranked by score: 0.5 (bought), 0.4, 0.2, 0.1. Margin per conversion 100 x 0.5 = 50, cost 12.
SCORES = np.array([0.1, 0.5, 0.2, 0.4])
LABELS = np.array([0, 1, 0, 0])
ECONOMICS = Economics(value_per_conversion=100.0, margin_rate=0.5, cost_per_contact=12.0)


def test_profit_curve_matches_the_hand_computed_example() -> None:
    curve = profit_curve(SCORES, LABELS, ECONOMICS)
    np.testing.assert_allclose(curve.shares, [0, 0.25, 0.5, 0.75, 1.0])
    # expected(k) = 50 x (sum of the top k scores) - 12 k
    np.testing.assert_allclose(curve.expected, [0, 13, 21, 19, 12])
    # realised(k) = 50 x (buyers in the top k) - 12 k
    np.testing.assert_allclose(curve.realised, [0, 38, 26, 14, 2])
    assert best_contacts(curve) == 2
    assert best_contacts(curve, max_contacts=1) == 1
    assert best_contacts(curve, max_contacts=0) == 0


def test_profit_curve_breaks_ties_in_row_order() -> None:
    curve = profit_curve(np.array([0.3, 0.3]), np.array([0, 1]), ECONOMICS)
    # The first row (no purchase) is contacted first.
    np.testing.assert_allclose(curve.realised, [0, -12, 26])


def test_rules_and_capacity_land_where_campaign_audiences_puts_them() -> None:
    kwargs = {"population": 400, "best": 2}
    assert rule_contacts("top_percent", 50.0, SCORES, **kwargs) == 2
    assert rule_contacts("top_percent", 30.0, SCORES, **kwargs) == 2  # ceil(1.2)
    assert rule_contacts("top_n", 100.0, SCORES, **kwargs) == 1  # 100 of 400 = a quarter
    assert rule_contacts("top_n", 3.0, SCORES, population=None, best=2) == 3
    assert rule_contacts("min_score", 0.4, SCORES, **kwargs) == 2
    assert rule_contacts("all", None, SCORES, **kwargs) == 4
    assert rule_contacts("max_profit", None, SCORES, **kwargs) == 2
    assert rule_contacts("mystery", 1.0, SCORES, **kwargs) is None
    assert capacity_contacts(200, 400, 4) == 2
    assert capacity_contacts(None, 400, 4) is None
    assert capacity_contacts(200, None, 4) is None


def test_campaign_profit_respects_the_capacity_for_max_profit() -> None:
    campaign = {
        "campaign_id": "call",
        "channel": "sales_rep",
        "audience_rule": "max_profit",
        "audience_rule_value": float("nan"),
        "value_per_conversion": 100.0,
        "margin_rate": 0.5,
        "cost_per_contact": 12.0,
        "max_contacts": 100,
    }
    profit = campaign_profit(campaign, SCORES, LABELS, population=400)
    assert profit.best == 2
    assert profit.capacity == 1
    assert profit.best_within_capacity == 1
    assert profit.rule_at == 1
    assert profit.scale() == 100.0


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------


def test_line_chart_is_well_formed_and_maps_points_to_the_plot_area() -> None:
    svg = charts.line_chart(
        [
            charts.Series("model <chosen> & co", [(0.0, 0.0), (0.5, 0.25), (1.0, 1.0)]),
            charts.Series("rule", [(0.0, 1.0), (1.0, 0.0)], dashed=True),
        ],
        title='ROC "curve" <test>',
        x_label="x",
        y_label="y",
        x_domain=(0.0, 1.0),
        y_domain=(0.0, 1.0),
        diagonal=True,
        markers=[charts.Marker(0.5, "half")],
    )
    root = ET.fromstring(svg)
    assert root.tag == "svg"
    assert root.find("title").text == 'ROC "curve" <test>'
    lines = root.findall("polyline")
    assert [line.get("data-name") for line in lines] == ["model <chosen> & co", "rule"]
    bottom = charts.TOP + charts.PLOT_HEIGHT  # 292
    right = charts.LEFT + charts.PLOT_WIDTH  # 410
    assert (charts.LEFT, charts.TOP, right, bottom) == (64, 34, 410, 292)
    assert lines[0].get("points") == "64,292 237,227.5 410,34"
    assert lines[1].get("points") == "64,34 410,292"
    assert "stroke-dasharray" in lines[1].attrib
    diagonal = root.find("line[@class='diagonal']")
    assert (diagonal.get("x1"), diagonal.get("y1"), diagonal.get("x2"), diagonal.get("y2")) == (
        "64",
        "292",
        "410",
        "34",
    )
    marker = root.find("line[@class='marker']")
    assert marker.get("x1") == "237"
    texts = [text.text for text in root.iter("text")]
    assert "model <chosen> & co" in texts  # the legend
    assert {"0", "0.2", "0.4", "0.6", "0.8", "1"} <= set(texts)  # ticks
    assert "<chosen>" not in svg  # escaped in the text


def test_scales_ticks_and_number_formatting() -> None:
    assert charts.nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert charts.nice_ticks(-1, 2, 8) == [-1, -0.5, 0, 0.5, 1.0, 1.5, 2.0]
    assert charts.nice_domain(-3.0, 47.0) == (-10.0, 50.0)
    scale = charts.LinearScale(0, 10, 100, 0)
    assert scale(2.5) == 75
    assert charts.number(-0.001) == "0"
    assert charts.number(12.5) == "12.5"
    assert charts.tick_label(12_500) == "12,500"


def test_bar_chart_draws_bars_from_the_zero_line() -> None:
    svg = charts.bar_chart([("a", 2.0), ("b", -1.0)], title="bars", x_label="value")
    root = ET.fromstring(svg)
    bars = {rect.get("data-name"): rect for rect in root.iter("rect") if rect.get("data-name")}
    widths = {name: float(rect.get("width")) for name, rect in bars.items()}
    assert widths["a"] == pytest.approx(2 * widths["b"], abs=0.02)
    # "a" starts at zero and goes right; "b" ends at zero.
    zero = float(bars["a"].get("x"))
    assert float(bars["b"].get("x")) + widths["b"] == pytest.approx(zero, abs=0.02)
    assert bars["a"].find("title").text == "a: 2"


def test_reliability_diagram_has_one_dot_per_bin_and_the_diagonal() -> None:
    tables = {
        "before": [
            {"mean_score": 0.05, "realised_rate": 0.04},
            {"mean_score": 0.15, "realised_rate": 0.2},
        ],
        "after": [{"mean_score": 0.1, "realised_rate": 0.1}],
    }
    root = ET.fromstring(charts.reliability_diagram(tables, title="reliability"))
    assert len(root.findall("circle")) == 3
    assert root.find("line[@class='diagonal']") is not None
    assert [line.get("data-name") for line in root.findall("polyline")] == ["before", "after"]


# --------------------------------------------------------------------------------------------
# Verdict wording
# --------------------------------------------------------------------------------------------


def _comparison(scorer: str, model: dict, other: dict) -> dict:
    entry = {"scorer": scorer}
    for metric in ("roc_auc", "pr_auc", "lift_top_decile", "precision_at_20", "recall_at_20"):
        entry[metric] = {
            "model": model[metric],
            "scorer": other[metric],
            "difference": model[metric] - other[metric],
        }
    entry["model_beats_it"] = model["pr_auc"] > other["pr_auc"]
    return entry


MODEL = {
    "roc_auc": 0.8,
    "pr_auc": 0.20,
    "lift_top_decile": 4.0,
    "precision_at_20": 0.1,
    "recall_at_20": 0.6,
}
EVALUATION = {
    "chosen": "hist_gradient_boosting",
    "candidates": ["hist_gradient_boosting", "logistic_regression"],
    "baselines": ["random", "engagement"],
    "comparison": [
        _comparison(
            "logistic_regression",
            MODEL,
            {**MODEL, "pr_auc": 0.15, "lift_top_decile": 3.2, "recall_at_20": 0.5},
        ),
        _comparison(
            "random",
            MODEL,
            {**MODEL, "pr_auc": 0.03, "lift_top_decile": 0.8, "recall_at_20": 0.2},
        ),
        _comparison(
            "engagement",
            MODEL,
            {**MODEL, "pr_auc": 0.25, "lift_top_decile": 5.0, "recall_at_20": 0.65},
        ),
    ],
}


def test_verdict_says_by_how_much_the_model_beats_each_baseline_and_which_it_does_not() -> None:
    assert verdict_lines(EVALUATION) == [
        "The model beats random targeting by 17.0 PR-AUC points (0.200 vs 0.030) with 5.0\u00d7 "
        "the top-decile lift (4.00 vs 0.80); contacting the top 20% finds 60% of the positives "
        "vs 20%.",
        "The model does NOT beat the engagement rule (top 20% by engagement): it has a PR-AUC "
        "5.0 points lower (0.200 vs 0.250); 0.8\u00d7 the top-decile lift (4.00 vs 5.00); "
        "contacting the top 20% finds 60% of the positives vs 65%.",
        "The model beats the logistic model by 5.0 PR-AUC points (0.200 vs 0.150) with 1.2\u00d7 "
        "the top-decile lift (4.00 vs 3.20); contacting the top 20% finds 60% of the positives "
        "vs 50%.",
    ]
    assert beats_summary(EVALUATION) == (
        "beats 2 of 3 other scorers on pooled PR-AUC; does NOT beat: engagement rule"
    )


def test_verdict_when_every_baseline_is_beaten_and_when_a_lift_is_zero() -> None:
    evaluation = {
        **EVALUATION,
        "baselines": ["random"],
        "comparison": [
            _comparison("random", MODEL, {**MODEL, "pr_auc": 0.03, "lift_top_decile": 0.0})
        ],
    }
    assert beats_summary(evaluation) == "beats all 1 other scorers on pooled PR-AUC"
    assert "top-decile lift 4.00 vs 0.00" in verdict_lines(evaluation)[0]


def test_segment_flags_and_importance_labels() -> None:
    assert segment_flags({"roc_auc": 0.7, "lift_top_decile": 2.0}) == []
    assert segment_flags({"roc_auc": 0.55, "lift_top_decile": 0.9}) == [
        "ROC-AUC below 0.6",
        "lift below 1",
    ]
    assert segment_flags({"roc_auc": None, "lift_top_decile": None}) == [
        "one class only: cannot rank"
    ]
    assert importance_label({"feature": "x", "description": "{value} visits"}) == "\u2026 visits"
    assert importance_label({"feature": "x", "description": None}) == "x"


# --------------------------------------------------------------------------------------------
# Truth gap
# --------------------------------------------------------------------------------------------


def test_truth_gap_compares_model_and_truth_on_the_same_rows() -> None:
    rng = np.random.default_rng(3)
    rows = 400
    truth_probability = rng.uniform(0.01, 0.5, rows)
    predictions = pd.DataFrame(
        {
            "fold": np.repeat([1, 2], rows // 2),
            "customer_id": np.arange(rows),
            "snapshot_date": pd.to_datetime(np.repeat(["2026-01-01", "2026-02-01"], rows // 2)),
            "label": (rng.uniform(size=rows) < truth_probability).astype(int),
            "score": truth_probability + rng.normal(0, 0.1, rows),
        }
    )
    truth = pd.DataFrame(
        {
            "customer_id": np.arange(rows),
            # Dates as the generator writes them (date objects), one row missing.
            "snapshot_date": [value.date() for value in predictions["snapshot_date"]],
            "true_upsell_probability": truth_probability,
        }
    ).iloc[1:]
    gap = truth_gap(predictions, truth, "true_upsell_probability")
    matched = predictions.iloc[1:]
    assert gap.matched_rows == rows - 1
    assert gap.prediction_rows == rows
    assert gap.pooled.model_roc_auc == pytest.approx(roc_auc_score(matched.label, matched.score))
    assert gap.pooled.truth_roc_auc == pytest.approx(
        roc_auc_score(matched.label, truth_probability[1:])
    )
    assert gap.pooled.truth_pr_auc == pytest.approx(
        average_precision_score(matched.label, truth_probability[1:])
    )
    assert [fold.label for fold in gap.folds] == ["fold 1", "fold 2"]
    assert [fold.rows for fold in gap.folds] == [199, 200]
    assert gap.pooled.meets_goal == (gap.pooled.roc_auc_gap <= 0.02)
    # The pooled gap carries its bootstrap interval (the same one gap_interval gives on the
    # matched rows, by customer); the folds carry none.
    low, high = gap.pooled.gap_interval
    assert low < gap.pooled.roc_auc_gap < high
    assert (low, high) == gap_interval(
        matched.label.to_numpy(), matched.score.to_numpy(), truth_probability[1:],
        matched.customer_id.to_numpy(),
    )  # fmt: skip
    assert gap.pooled.goal_in_interval == (low <= TRUTH_GOAL_ROC_AUC <= high)
    assert all(fold.gap_interval is None and fold.goal_in_interval is None for fold in gap.folds)


def test_weighted_roc_auc_equals_sklearn_with_weights_and_ties() -> None:
    rng = np.random.default_rng(11)
    labels = (rng.uniform(size=3000) < 0.2).astype(int)
    score = np.round(rng.normal(labels * 0.5, 1.0), 1)  # rounded: many tied scores
    weights = rng.poisson(1.0, 3000).astype(float)
    groups = np.unique(score, return_inverse=True)[1]
    assert weighted_roc_auc(labels, groups, weights) == pytest.approx(
        roc_auc_score(labels, score, sample_weight=weights), abs=1e-12
    )


def _delong_gap_standard_error(labels: np.ndarray, first: np.ndarray, second: np.ndarray) -> float:
    """DeLong's (1988) standard error of AUC(first) - AUC(second) on the same rows."""
    positives, negatives = labels == 1, labels == 0
    components = []
    for score in (first, second):
        pos, neg = score[positives][:, None], score[negatives][None, :]
        kernel = (pos > neg) + 0.5 * (pos == neg)
        components.append((kernel.mean(axis=1), kernel.mean(axis=0)))
    s10 = np.cov(np.vstack([components[0][0], components[1][0]]))
    s01 = np.cov(np.vstack([components[0][1], components[1][1]]))
    contrast = np.array([1.0, -1.0])
    variance = contrast @ s10 @ contrast / positives.sum() + contrast @ s01 @ contrast / (
        negatives.sum()
    )
    return float(np.sqrt(variance))


def test_gap_interval_agrees_with_delong_and_resamples_whole_customers() -> None:
    rng = np.random.default_rng(5)
    rows = 4000
    truth_probability = rng.uniform(0.01, 0.4, rows)
    labels = (rng.uniform(size=rows) < truth_probability).astype(int)
    score = truth_probability + rng.normal(0, 0.08, rows)
    customers = np.arange(rows)
    low, high = gap_interval(labels, score, truth_probability, customers)
    # One row per customer: the bootstrap's 95% interval is about +-1.96 DeLong errors wide.
    delong = _delong_gap_standard_error(labels, truth_probability, score)
    assert (high - low) / (2 * 1.96) == pytest.approx(delong, rel=0.15)
    # Every customer's rows twice (as in four monthly folds): a customer's rows share one
    # weight, so the interval is the same, not narrower by sqrt(2) as a row bootstrap's would be.
    twice = gap_interval(
        np.tile(labels, 2), np.tile(score, 2), np.tile(truth_probability, 2),
        np.tile(customers, 2),
    )  # fmt: skip
    assert twice == pytest.approx((low, high), abs=1e-12)
    # The same rows give the same interval (fixed seed).
    assert gap_interval(labels, score, truth_probability, customers) == (low, high)


# --------------------------------------------------------------------------------------------
# End to end on the session's built warehouse
# --------------------------------------------------------------------------------------------


def _cells(html: str, section: str) -> list[list[str]]:
    """The rows of the first table of a section, as cell texts."""
    table = html.split(f"<h2 id='{section}'>")[1].split("<table>", 1)[1].split("</table>")[0]
    root = ET.fromstring(f"<table>{table}</table>")
    return [["".join(cell.itertext()) for cell in row] for row in root.iter("tr")]


@pytest.fixture(scope="module")
def registry(built, dbt) -> dict:
    """The built warehouse's one up-sell registry row."""
    frame = dbt.query(built.warehouse, "select * from ml.model_registry where task = 'upsell'")
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def _expected_charts(built, dbt, registry: dict, evaluation: dict) -> int:
    """ROC, PR, gains, reliability, one per active campaign, importance, drift (if any)."""
    campaigns = dbt.scalar(
        built.warehouse,
        "select count(*) from config.campaigns where task = ? and is_active",
        [registry["task"]],
    )
    has_drift = dbt.scalar(
        built.warehouse,
        "select count(*) from information_schema.tables "
        "where table_schema = 'monitoring' and table_name = 'feature_drift'",
    )
    drift_rows = (
        dbt.scalar(
            built.warehouse,
            "select count(*) from monitoring.feature_drift where model_version = ?",
            [registry["model_version"]],
        )
        if has_drift
        else 0
    )
    return 4 + campaigns + (1 if evaluation["importance"] else 0) + (1 if drift_rows else 0)


def test_report_end_to_end(built, dbt, registry, tmp_path) -> None:
    summaries = write_reports(built.warehouse, tmp_path, task="upsell", truth_file=built.truth_file)
    version = registry["model_version"]
    assert [summary.model_version for summary in summaries] == [version]
    path = tmp_path / f"{version}.html"
    assert summaries[0].path == path
    html = path.read_text(encoding="utf-8")
    evaluation = json.loads(registry["evaluation_json"])
    chosen = evaluation["chosen"]

    assert f"Model card: {version}" in html
    assert registry["onnx_sha256"] in html
    assert "http" not in html.lower()
    assert "<script" not in html.lower()
    assert html.count("<svg") == _expected_charts(built, dbt, registry, evaluation)
    for svg in re.findall(r"<svg.*?</svg>", html, re.S):
        ET.fromstring(svg)

    # Every scorer is in the metric table with the registry's pooled values, as formatted.
    rows = _cells(html, "metrics")
    assert rows[0][:4] == ["scorer", "kind", "ROC-AUC", "PR-AUC"]
    by_scorer = {row[0].removesuffix(" (chosen)"): row for row in rows[1:]}
    assert set(by_scorer) == {scorer_label(name) for name in evaluation["overall"]}
    assert rows[1][0] == f"{scorer_label(chosen)} (chosen)"
    for name in evaluation["baselines"]:
        assert by_scorer[scorer_label(name)][1] == "baseline"
    for name, metrics in evaluation["overall"].items():
        expected = [
            "\u2014" if metrics[key] is None else f"{metrics[key]:.{digits}f}"
            for key, _, digits in METRIC_COLUMNS
        ]
        assert by_scorer[scorer_label(name)][2:] == expected
    assert f"ROC-AUC {registry['validation_roc_auc']:.4f}" in html
    assert f"PR-AUC {registry['validation_pr_auc']:.4f}" in html

    # The verdict names every other scorer, baselines included.
    verdict = html.split("<h2 id='verdict'>")[1].split("<h2")[0]
    for line in verdict_lines(evaluation):
        assert escape(line) in verdict
    assert "random targeting" in verdict and "the recency rule" in verdict

    # The truth gap, recomputed here from the predictions and the truth files.
    predictions = pd.read_parquet(registry["predictions_path"])
    truth = pd.read_parquet(built.truth_file)
    truth["snapshot_date"] = pd.to_datetime(truth["snapshot_date"])
    joined = predictions.merge(truth, on=["customer_id", "snapshot_date"], how="inner")
    assert len(joined) == len(predictions)
    model_roc_auc = roc_auc_score(joined["label"], joined["score"])
    truth_roc_auc = roc_auc_score(joined["label"], joined["true_upsell_probability"])
    pooled = next(row for row in _cells(html, "truth") if row[0] == "pooled")
    assert pooled[4:7] == [
        f"{model_roc_auc:.4f}",
        f"{truth_roc_auc:.4f}",
        f"{truth_roc_auc - model_roc_auc:.4f}",
    ]
    interval = gap_interval(
        joined["label"].to_numpy(), joined["score"].to_numpy(),
        joined["true_upsell_probability"].to_numpy(), joined["customer_id"].to_numpy(),
    )  # fmt: skip
    assert pooled[7] == f"[{interval[0]:.4f}, {interval[1]:.4f}]"
    assert summaries[0].truth.roc_auc_gap == pytest.approx(truth_roc_auc - model_roc_auc)
    assert pooled[-1] == ("yes" if truth_roc_auc - model_roc_auc <= 0.02 else "NO")

    # Deterministic: the same inputs give the same page.
    again = write_reports(
        built.warehouse, tmp_path / "again", task="upsell", truth_file=built.truth_file
    )
    assert again[0].path.read_text(encoding="utf-8") == html


def test_profit_section_matches_the_validation_rows(built, dbt, registry, tmp_path) -> None:
    with_economics = dbt.query(
        built.warehouse,
        "select * from config.campaigns where task = ? and is_active order by campaign_id",
        [registry["task"]],
    )
    predictions = pd.read_parquet(registry["predictions_path"])
    validation = predictions[predictions["fold"] == predictions["fold"].max()]
    scores = validation["registered_score"].to_numpy()
    labels = validation["label"].to_numpy()
    first = with_economics.iloc[0]
    margin = first["value_per_conversion"] * first["margin_rate"]
    expected = np.concatenate([[0], np.cumsum(np.sort(scores)[::-1])]) * margin - np.arange(
        len(scores) + 1
    ) * float(first["cost_per_contact"])
    best = int(np.argmax(expected))
    order = np.argsort(-scores, kind="stable")
    realised_at_best = labels[order][:best].sum() * margin - best * first["cost_per_contact"]

    with duckdb.connect(str(built.warehouse), read_only=True) as connection:
        card = load_card(connection, registry["model_version"])
    profit = card.campaigns[0]
    assert profit.campaign_id == first["campaign_id"]
    assert profit.best == best
    np.testing.assert_allclose(profit.curve.expected, expected)
    assert profit.curve.realised[best] == pytest.approx(realised_at_best)
    html = render_card(card)
    section = html.split("<h2 id='profit'>")[1].split("<h2")[0]
    assert f"{expected[best]:,.0f}" in section
    assert f"{realised_at_best:,.0f}" in section

    card.drift = None
    assert "no drift table in this warehouse" in render_card(card)


def test_cli_report_prints_a_summary_and_refuses_unknown_versions(
    built, registry, tmp_path, capsys
) -> None:
    out = tmp_path / "cards"
    arguments = ["report", "--warehouse", str(built.warehouse), "--out", str(out)]
    assert main([*arguments, "--task", registry["task"]]) == 0
    printed = capsys.readouterr().out
    version = registry["model_version"]
    assert f"{version}: reading the out-of-time predictions" in printed  # progress
    assert f"{version} ({registry['task']}, {registry['model_family']}): pooled" in printed
    assert "other scorers on pooled PR-AUC" in printed
    assert f"wrote {out / (version + '.html')}" in printed
    assert (out / f"{version}.html").is_file()

    assert main([*arguments, "--version", "nope-v9"]) == 1
    assert "no model version 'nope-v9'" in capsys.readouterr().err
    with pytest.raises(ReportError, match="no warehouse"):
        write_reports(Path(tmp_path / "missing.duckdb"), out)
