"""The model card as one self-contained HTML page: inline CSS and SVG, no script, no URL."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from propensity import charts
from propensity.card import ModelCard
from propensity.economics import CampaignProfit
from propensity.html_table import Cell, facts, frame_table, note, table
from propensity.report_text import (
    MISSING,
    SEGMENT_MIN_LIFT,
    SEGMENT_MIN_ROC_AUC,
    beats_summary,
    date_text,
    fixed,
    importance_label,
    integer,
    interval_text,
    money,
    ordered_comparisons,
    percent,
    profit_sentence,
    rule_text,
    scorer_label,
    scorer_phrase,
    segment_flags,
    truth_sentence,
    verdict_lines,
)
from propensity.truth import TRUTH_GOAL_ROC_AUC

PROFIT_CURVE_POINTS = 201  # points drawn per profit curve (the maxima are exact)
IMPORTANCE_BARS = 15  # bars in the importance and drift charts
METRIC_COLUMNS = (
    ("roc_auc", "ROC-AUC", 4),
    ("pr_auc", "PR-AUC", 4),
    ("lift_top_decile", "lift top 10%", 2),
    ("precision_at_10", "precision@10%", 4),
    ("recall_at_10", "recall@10%", 4),
    ("precision_at_20", "precision@20%", 4),
    ("recall_at_20", "recall@20%", 4),
    ("log_loss", "log loss", 4),
    ("brier", "Brier", 4),
    ("ece", "ECE", 4),
)
DRIFT_COLUMNS = (
    "feature_name",
    "kind",
    "psi",
    "drift_status",
    "expected_rows",
    "actual_rows",
    "expected_missing_share",
    "actual_missing_share",
    "snapshot_date",
)
DRIFT_BIN_COLUMNS = (
    "bin_number",
    "lower_edge",
    "upper_edge",
    "expected_share",
    "actual_share",
    "psi_contribution",
)

# What differs between the ROC, precision-recall and gains charts (all on the unit square).
CURVE_CHARTS: dict[str, dict[str, Any]] = {
    "roc": {
        "title": "ROC curve (pooled out-of-time rows)",
        "x_label": "false positive rate",
        "y_label": "true positive rate",
        "diagonal": True,
    },
    "pr": {
        "title": "Precision-recall curve (pooled out-of-time rows)",
        "x_label": "recall",
        "y_label": "precision",
    },
    "gains": {
        "title": "Cumulative gains (pooled out-of-time rows)",
        "x_label": "share of customers contacted",
        "y_label": "share of positives found",
        "diagonal": True,
        "x_format": charts.percent_label,
        "y_format": charts.percent_label,
    },
}

SECTIONS = (
    ("data", "data"),
    ("verdict", "verdict"),
    ("metrics", "metrics"),
    ("curves", "curves"),
    ("calibration", "calibration"),
    ("profit", "profit"),
    ("deciles", "deciles"),
    ("segments", "segments"),
    ("importance", "importance"),
    ("drift", "drift"),
    ("realised", "realised performance"),
)

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
  max-width: 1180px; margin: 24px auto; padding: 0 20px; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 2px solid #1f5fa8; padding-bottom: 3px; margin-top: 2em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.88em; }
th, td { border: 1px solid #d5d5d5; padding: 3px 8px; text-align: right; }
th { background: #eef2f7; }
td.text, th.text { text-align: left; }
tr.chosen td { font-weight: bold; background: #f3f8ff; }
tr.flagged td { background: #fff1e6; }
.flag { color: #b03a2e; font-weight: bold; }
.verdict li { margin: 4px 0; }
.not-beaten { color: #b03a2e; font-weight: bold; }
.good { color: #2e7d32; font-weight: bold; }
.note { color: #666; font-style: italic; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.facts td:first-child { text-align: left; color: #555; }
.facts td { text-align: left; }
code { font-size: 0.92em; }
nav a { margin-right: 10px; }
"""


def thin_indices(length: int, count: int, keep: Sequence[int] = ()) -> np.ndarray:
    """At most about `count` evenly spread indices of 0..length-1, ends and `keep` included."""
    if length <= count:
        return np.arange(length)
    spread = np.linspace(0, length - 1, count).round().astype(int)
    kept = [index for index in keep if 0 <= index < length]
    return np.unique(np.concatenate([spread, np.asarray(kept, dtype=int)]))


def _scorer_order(evaluation: Mapping[str, Any]) -> list[str]:
    """The chosen model, then the other candidates, then the baselines."""
    chosen = str(evaluation["chosen"])
    overall = evaluation["overall"]
    candidates = [c for c in evaluation.get("candidates", []) if c != chosen]
    baselines = list(evaluation.get("baselines", []))
    rest = [name for name in overall if name not in (chosen, *candidates, *baselines)]
    return [name for name in (chosen, *candidates, *baselines, *rest) if name in overall]


def _series_style(evaluation: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    """Colour and dash per scorer: models solid, baseline rules dashed."""
    candidates = set(evaluation.get("candidates", []))
    return {
        name: (charts.PALETTE[index % len(charts.PALETTE)], name not in candidates)
        for index, name in enumerate(_scorer_order(evaluation))
    }


def _legend_name(name: str, chosen: str) -> str:
    return f"{scorer_label(name)} (chosen)" if name == chosen else scorer_label(name)


def _curve_chart(card: ModelCard, kind: str) -> str:
    evaluation = card.evaluation
    chosen = evaluation["chosen"]
    styles = _series_style(evaluation)
    series = [
        charts.Series(
            name=_legend_name(name, chosen),
            points=[tuple(point) for point in evaluation["curves"][name][kind]],
            color=styles[name][0],
            dashed=styles[name][1],
            width=2.5 if name == chosen else 1.6,
        )
        for name in _scorer_order(evaluation)
        if evaluation["curves"].get(name, {}).get(kind)
    ]
    if kind == "pr":
        base_rate = evaluation["overall"][chosen]["base_rate"] or 0.0
        series.append(
            charts.Series(
                name=f"base rate {base_rate:.3f}",
                points=[(0.0, base_rate), (1.0, base_rate)],
                color=charts.REFERENCE_COLOR,
                dashed=True,
                width=1.0,
            )
        )
    return charts.line_chart(series, x_domain=(0, 1), y_domain=(0, 1), **CURVE_CHARTS[kind])


def _header(card: ModelCard) -> str:
    registry = card.registry
    in_use = "yes" if card.is_in_use else "no (another version is in use)"
    rows = [
        ("task", card.task),
        ("model version", card.model_version),
        ("model family", str(registry["model_family"])),
        ("calibration", str(registry.get("calibration") or "none")),
        ("trained at (UTC)", f"{pd.Timestamp(registry['trained_at']):%Y-%m-%d %H:%M:%S}"),
        ("in use", in_use),
        ("ONNX sha256", str(registry.get("onnx_sha256") or MISSING)),
        ("ONNX file", str(registry.get("onnx_path") or MISSING)),
    ]
    return (
        f"<h1>Model card: {escape(card.model_version)}</h1>"
        f"<p>{escape(card.task)} propensity, {escape(scorer_label(str(registry['model_family'])))}"
        f" &mdash; {escape(beats_summary(card.evaluation))}.</p>" + facts(rows)
    )


def _data_section(card: ModelCard) -> str:
    registry = card.registry
    evaluation = card.evaluation
    chosen = evaluation["chosen"]
    overall = evaluation["overall"][chosen]
    training_rows = int(registry["training_rows"])
    training_positives = int(registry["training_positives"])
    validation_rows = int(registry["validation_rows"])
    validation_positives = int(registry["validation_positives"])
    features = json.loads(str(registry.get("feature_columns") or "[]"))
    folds = evaluation.get("folds", [])
    test_snapshots = ", ".join(fold["test_snapshot"] for fold in folds)
    population = card.population
    rows = [
        (
            "training window",
            f"snapshots {date_text(registry['training_snapshot_start'])} to "
            f"{date_text(registry['training_snapshot_end'])}",
        ),
        (
            "training rows",
            f"{training_rows:,} ({training_positives:,} positives, base rate "
            f"{percent(training_positives / training_rows if training_rows else None, 2)})",
        ),
        ("validation snapshot", date_text(registry["validation_snapshot"])),
        (
            "validation rows",
            f"{validation_rows:,} ({validation_positives:,} positives, base rate "
            f"{percent(validation_positives / validation_rows if validation_rows else None, 2)})",
        ),
        (
            "registered model on the validation snapshot",
            f"ROC-AUC {fixed(registry.get('validation_roc_auc'))}, "
            f"PR-AUC {fixed(registry.get('validation_pr_auc'))}",
        ),
        (
            "backtest",
            f"{len(folds)} rolling-origin folds tested on {test_snapshots}; pooled "
            f"{integer(overall['rows'])} rows, {integer(overall['positives'])} positives, "
            f"base rate {percent(overall['base_rate'], 2)}",
        ),
        (
            "as-of population (scored now)",
            f"{population.rows:,} customers on {date_text(population.snapshot_date)}"
            if population
            else f"unknown: no ml.{card.task}_scores table",
        ),
        ("features", f"{len(features)}: {', '.join(features)}"),
    ]
    if "split" in evaluation:  # a model trained on the user's own table (train-table)
        rows.append(("split", str(evaluation["split"]["description"])))
    return "<h2 id='data'>Data window and population</h2>" + facts(rows)


def _verdict_section(card: ModelCard) -> str:
    evaluation = card.evaluation
    chosen = evaluation["chosen"]
    items = []
    for entry, line in zip(ordered_comparisons(evaluation), verdict_lines(evaluation), strict=True):
        css = "" if entry["model_beats_it"] else ' class="not-beaten"'
        items.append(f"<li{css}>{escape(line)}</li>")
    means = evaluation.get("mean_fold_pr_auc", {})
    choice = ", ".join(f"{scorer_label(k)} {v:.4f}" for k, v in sorted(means.items()))
    intro = (
        f"The chosen model is {escape(scorer_phrase(chosen, evaluation))} "
        f"(highest mean out-of-time PR-AUC over the folds: {escape(choice)}). "
        "Every comparison below is on the same pooled out-of-time rows; "
        "&ldquo;beats&rdquo; means a higher PR-AUC."
    )
    return f"<h2 id='verdict'>Verdict</h2><p>{intro}</p><ul class='verdict'>{''.join(items)}</ul>"


def _metric_section(card: ModelCard) -> str:
    evaluation = card.evaluation
    chosen = evaluation["chosen"]
    candidates = set(evaluation.get("candidates", []))
    order = _scorer_order(evaluation)
    rows, classes = [], []
    for name in order:
        metrics = evaluation["overall"][name]
        kind = "model" if name in candidates else "baseline"
        rows.append(
            [
                Cell(_legend_name(name, chosen), is_text=True),
                Cell(kind, is_text=True),
                *[fixed(metrics.get(key), digits) for key, _, digits in METRIC_COLUMNS],
            ]
        )
        classes.append("chosen" if name == chosen else "")
    headers = ["scorer", "kind", *[label for _, label, _ in METRIC_COLUMNS]]
    fold_headers = ["fold", "test snapshot", "training window", "training rows", "test rows"]
    fold_rows = []
    for fold in evaluation.get("folds", []):
        first = next(iter(fold["metrics"].values()))
        fold_rows.append(
            [
                Cell(str(fold["fold"]), is_text=True),
                fold["test_snapshot"],
                f"{fold['train_snapshot_start']}..{fold['train_snapshot_end']}",
                integer(fold["train_rows"]),
                f"{integer(first['rows'])} ({integer(first['positives'])} pos.)",
                *[
                    f"{fixed(fold['metrics'][name]['pr_auc'])} / "
                    f"{fixed(fold['metrics'][name]['roc_auc'])}"
                    for name in order
                    if name in fold["metrics"]
                ],
            ]
        )
    fold_headers += [
        f"{scorer_label(name)} PR / ROC"
        for name in order
        if evaluation.get("folds") and name in evaluation["folds"][0]["metrics"]
    ]
    return (
        "<h2 id='metrics'>Metrics</h2>"
        "<p>Pooled over every backtest fold's out-of-time test rows. Log loss, Brier and ECE "
        "apply to probabilities only (the rules rank, they do not estimate).</p>"
        + table(headers, rows, classes)
        + "<h3>Per fold (PR-AUC / ROC-AUC)</h3>"
        + table(fold_headers, fold_rows)
    )


def _curves_section(card: ModelCard) -> str:
    return (
        "<h2 id='curves'>ROC, precision-recall and gains</h2>"
        "<p>Models are solid lines, baseline rules dashed; the dashed diagonal is random "
        "targeting's expectation.</p><div class='charts'>"
        + "".join(_curve_chart(card, kind) for kind in CURVE_CHARTS)
        + "</div>"
    )


def _calibration_section(card: ModelCard) -> str:
    calibration = card.evaluation.get("calibration", {})
    reports = (
        ("before (raw)", calibration.get("validation_before", {})),
        ("after (registered)", calibration.get("validation_after", {})),
    )
    method = calibration.get("method", "none")
    if method == "platt":
        intercept = calibration.get("intercept") or 0.0
        sign = "+" if intercept >= 0 else "\u2212"
        how = (
            f"Platt scaling q = sigmoid({fixed(calibration.get('slope'))} \u00d7 logit(p) "
            f"{sign} {fixed(abs(intercept))}), fitted on the earlier folds' "
            "out-of-time scores and kept because it lowered the validation log loss."
        )
    else:
        how = "No calibration map: the raw probabilities are registered."
    summary_rows = [
        [
            Cell(label, is_text=True),
            fixed(report.get("ece")),
            fixed(report.get("log_loss")),
            fixed(report.get("brier")),
            fixed(report.get("mean_score")),
            fixed(report.get("realised_rate")),
        ]
        for label, report in reports
        if report
    ]
    tables = {
        label: report.get("reliability", [])
        for label, report in reports
        if report and report.get("reliability")
    }
    reliability = "".join(
        f"<div><h3>Reliability {escape(label)}</h3>"
        + table(
            ["bin", "score range", "rows", "mean score", "realised rate"],
            [
                [
                    Cell(str(row["bin"]), is_text=True),
                    f"{row['lower']:.1f}\u2013{row['upper']:.1f}",
                    integer(row["rows"]),
                    fixed(row["mean_score"]),
                    fixed(row["realised_rate"]),
                ]
                for row in rows
            ],
        )
        + "</div>"
        for label, rows in tables.items()
    )
    chart = (
        charts.reliability_diagram(tables, title="Reliability on the validation snapshot")
        if tables
        else note("no reliability table in the evaluation")
    )
    return (
        "<h2 id='calibration'>Calibration</h2>"
        f"<p>{escape(how)} Expected calibration error (ECE) is the row-weighted gap between "
        "mean score and realised rate over ten equal-width score bins.</p>"
        + table(
            ["validation snapshot", "ECE", "log loss", "Brier", "mean score", "realised rate"],
            summary_rows,
        )
        + f"<div class='charts'>{chart}{reliability}</div>"
    )


def _profit_chart(profit: CampaignProfit) -> str:
    curve = profit.curve
    keep = [profit.best, profit.best_within_capacity, profit.rule_at or 0]
    indices = thin_indices(len(curve.shares), PROFIT_CURVE_POINTS, keep)
    markers = [
        charts.Marker(
            float(curve.shares[profit.best]),
            f"max expected {money(curve.expected[profit.best])}",
            "#1f5fa8",
        )
    ]
    if profit.capacity is not None:
        markers.append(charts.Marker(float(curve.shares[profit.capacity]), "capacity", "#b03a2e"))
    if profit.rule_at is not None:
        markers.append(
            charts.Marker(
                float(curve.shares[profit.rule_at]), f"rule: {rule_text(profit)}", "#2e8b57"
            )
        )
    return charts.line_chart(
        [
            charts.Series(
                "expected profit",
                [(float(curve.shares[i]), float(curve.expected[i])) for i in indices],
                color=charts.PALETTE[0],
            ),
            charts.Series(
                "realised profit",
                [(float(curve.shares[i]), float(curve.realised[i])) for i in indices],
                color=charts.PALETTE[1],
                width=1.5,
            ),
            charts.Series(
                "break-even",
                [(0.0, 0.0), (1.0, 0.0)],
                color=charts.REFERENCE_COLOR,
                dashed=True,
                width=1.0,
            ),
        ],
        title=f"Profit over audience size: {profit.campaign_id}",
        x_label="share of the population contacted (best scores first)",
        y_label=f"profit on {profit.rows:,} validation rows",
        x_domain=(0.0, 1.0),
        markers=markers,
        x_format=charts.percent_label,
    )


def _profit_rows(profit: CampaignProfit) -> list[list[Cell | str]]:
    curve, scale = profit.curve, profit.scale()
    points = [("maximum expected profit", profit.best)]
    if profit.capacity is not None:
        points.append(("capacity limit", profit.capacity))
        points.append(("maximum within capacity", profit.best_within_capacity))
    if profit.rule_at is not None:
        points.append((f"the campaign's rule ({rule_text(profit)})", profit.rule_at))
    points.append(("contact everyone", len(curve.shares) - 1))
    return [
        [
            Cell(label, is_text=True),
            percent(curve.shares[k]),
            integer(k),
            money(curve.expected[k]),
            money(curve.realised[k]),
            money(curve.expected[k] * scale) if scale else MISSING,
        ]
        for label, k in points
    ]


def _profit_section(card: ModelCard) -> str:
    head = (
        "<h2 id='profit'>Decisions by value: expected profit over audience size</h2>"
        "<p>On the validation snapshot's rows, ranked by the registered model's score: "
        "expected profit(k) = sum over the top k of score \u00d7 value \u00d7 margin "
        "\u2212 k \u00d7 cost per contact; realised profit uses the observed outcome "
        "instead of the score. The last column scales the expected profit to the as-of "
        "population.</p>"
    )
    notes = "".join(
        note(card.notes[key]) for key in ("profit", "profit_scores") if key in card.notes
    )
    blocks = []
    for profit in card.campaigns:
        blocks.append(
            f"<h3>{escape(profit.campaign_id)}</h3><p>{escape(profit_sentence(profit))}</p>"
            f"<div class='charts'>{_profit_chart(profit)}"
            + table(
                [
                    "point",
                    "share contacted",
                    "contacts",
                    "expected profit",
                    "realised profit",
                    "expected, as-of population",
                ],
                _profit_rows(profit),
            )
            + "</div>"
        )
    return head + notes + "".join(blocks)


def _decile_section(card: ModelCard) -> str:
    evaluation = card.evaluation
    deciles = [
        [
            Cell(str(row["decile"]), is_text=True),
            integer(row["rows"]),
            integer(row["positives"]),
            fixed(row["mean_score"]),
            fixed(row["realised_rate"]),
            fixed(row["lift"], 2),
            percent(row["cumulative_gain"]),
        ]
        for row in evaluation.get("deciles", [])
    ]
    top_k = [
        [
            Cell(f"top {row['percent']:g}%", is_text=True),
            integer(row["contacted"]),
            fixed(row["precision"]),
            percent(row["recall"]),
            fixed(row["lift"], 2),
        ]
        for row in evaluation.get("top_k", [])
    ]
    return (
        "<h2 id='deciles'>Deciles and top-k</h2>"
        "<p>The chosen model's pooled out-of-time scores, decile 1 = best scores.</p>"
        + table(
            [
                "decile",
                "rows",
                "positives",
                "mean score",
                "realised rate",
                "lift",
                "cumulative gain",
            ],
            deciles,
        )
        + table(["contacted", "rows", "precision", "recall", "lift"], top_k)
    )


def _segment_section(card: ModelCard) -> str:
    rows, classes = [], []
    for segment in card.evaluation.get("segments", []):
        flags = segment_flags(segment)
        rows.append(
            [
                Cell(str(segment["label"]), is_text=True),
                integer(segment["rows"]),
                integer(segment["positives"]),
                percent(segment["base_rate"], 2),
                fixed(segment["roc_auc"]),
                fixed(segment["pr_auc"]),
                fixed(segment["lift_top_decile"], 2),
                fixed(segment["precision_at_20"]),
                percent(segment["recall_at_20"]),
                fixed(segment.get("ece")),
                Cell("; ".join(flags) or "ok", is_text=True, css="flag" if flags else ""),
            ]
        )
        classes.append("flagged" if flags else "")
    return (
        "<h2 id='segments'>Per segment</h2>"
        "<p>Ranking metrics within each segment (pooled out-of-time rows; the last two "
        f"segments overlap the lifecycle ones). Flagged: ROC-AUC below {SEGMENT_MIN_ROC_AUC} "
        f"or top-decile lift below {SEGMENT_MIN_LIFT:g}.</p>"
        + table(
            [
                "segment",
                "rows",
                "positives",
                "base rate",
                "ROC-AUC",
                "PR-AUC",
                "lift top 10%",
                "precision@20%",
                "recall@20%",
                "ECE",
                "flag",
            ],
            rows,
            classes,
        )
    )


def _importance_section(card: ModelCard) -> str:
    importance = card.evaluation.get("importance", [])
    if not importance:
        return "<h2 id='importance'>Importance</h2>" + note("no importance in the evaluation")
    shown = importance[:IMPORTANCE_BARS]
    chart = charts.bar_chart(
        [(str(row["feature"]), float(row["importance_mean"])) for row in shown],
        errors=[float(row["importance_std"]) for row in shown],
        title=f"Permutation importance (top {len(shown)})",
        x_label="drop in PR-AUC when the feature is shuffled",
    )
    rows = [
        [
            Cell(str(rank), is_text=True),
            Cell(str(row["feature"]), is_text=True),
            Cell(importance_label(row), is_text=True),
            fixed(row["importance_mean"]),
            fixed(row["importance_std"]),
        ]
        for rank, row in enumerate(importance, start=1)
    ]
    return (
        "<h2 id='importance'>Importance</h2>"
        "<p>Permutation importance on a sample of the validation snapshot: how much PR-AUC "
        "drops when one feature's values are shuffled (mean \u00b1 std over repeats).</p>"
        f"<div class='charts'>{chart}</div>"
        + table(["rank", "feature", "what it means", "PR-AUC drop", "std"], rows)
    )


def _drift_section(card: ModelCard) -> str:
    head = "<h2 id='drift'>Drift</h2>"
    drift = card.drift
    if drift is None:
        return head + note("no drift table in this warehouse (monitoring.feature_drift)")
    if drift.empty:
        return head + note(
            f"monitoring.feature_drift has no rows for {card.model_version} (drift is measured "
            "for the version in use)"
        )
    columns = [c for c in DRIFT_COLUMNS if c in drift] or [
        c for c in drift.columns if c not in ("task", "model_version")
    ]
    if "psi" in drift:
        drift = drift.sort_values(["psi", *columns[:1]], ascending=[False, True])
    parts = [
        head,
        "<p>Population stability index (PSI) of each input and of the score: the model's "
        "training population against the population scored now.</p>",
    ]
    if "psi" in drift and "feature_name" in drift:
        shown = drift.head(IMPORTANCE_BARS)
        parts.append(
            "<div class='charts'>"
            + charts.bar_chart(
                [(str(row.feature_name), float(row.psi)) for row in shown.itertuples()],
                title=f"Population stability index (top {len(shown)})",
                x_label="PSI (0.1 and up: watch; 0.25 and up: act)",
                color=charts.PALETTE[4],
            )
            + "</div>"
        )
    parts.append(frame_table(drift, columns))
    bins = card.drift_bins
    if bins is not None and not bins.empty and "feature_name" in bins:
        bin_columns = [c for c in DRIFT_BIN_COLUMNS if c in bins]
        names = list(dict.fromkeys(["__score__", str(drift.iloc[0].get("feature_name", ""))]))
        for name in names:
            rows = bins[bins["feature_name"] == name]
            if rows.empty or not bin_columns:
                continue
            if "bin_number" in rows:
                rows = rows.sort_values("bin_number")
            title = "the score" if name == "__score__" else name
            parts.append(f"<h3>Bins of {escape(title)}</h3>" + frame_table(rows, bin_columns))
    return "".join(parts)


def _realised_section(card: ModelCard) -> str:
    head = "<h2 id='realised'>Realised performance</h2>"
    realised = card.realised
    if realised is None:
        return head + note(
            "no realised-performance table in this warehouse (monitoring.realised_performance)"
        )
    if realised.empty:
        return head + note(f"no realised-performance rows for {card.model_version} yet")
    columns = [c for c in realised.columns if c not in ("task", "model_version")]
    if "snapshot_date" in realised:
        realised = realised.sort_values("snapshot_date")
    return (
        head
        + "<p>How the scores did once the outcomes were known.</p>"
        + frame_table(realised, columns)
    )


def _truth_section(card: ModelCard) -> str:
    gap = card.truth
    if gap is None:
        return ""
    comparisons = [*gap.folds, gap.pooled]
    rows = [
        [
            Cell(row.label, is_text=True),
            row.snapshot,
            integer(row.rows),
            integer(row.positives),
            fixed(row.model_roc_auc),
            fixed(row.truth_roc_auc),
            fixed(row.roc_auc_gap),
            Cell(interval_text(row.gap_interval), is_text=True),
            fixed(row.model_pr_auc),
            fixed(row.truth_pr_auc),
            fixed(row.pr_auc_gap),
            Cell(
                "yes" if row.meets_goal else "NO",
                is_text=True,
                css="good" if row.meets_goal else "flag",
            ),
        ]
        for row in comparisons
    ]
    return (
        "<h2 id='truth'>Gap to the true probabilities (demo data)</h2>"
        f"<p>The generator's {escape(gap.truth_column)} ranks the same out-of-time rows "
        f"({gap.matched_rows:,} of {gap.prediction_rows:,} prediction rows matched). "
        f"{escape(truth_sentence(gap.pooled))}</p>"
        + table(
            [
                "fold",
                "snapshot",
                "rows",
                "positives",
                "model ROC-AUC",
                "truth ROC-AUC",
                "ROC-AUC gap",
                "gap 95% interval",
                "model PR-AUC",
                "truth PR-AUC",
                "PR-AUC gap",
                f"within {TRUTH_GOAL_ROC_AUC}",
            ],
            rows,
            ["chosen" if row is gap.pooled else "" for row in comparisons],
        )
    )


def render_card(card: ModelCard) -> str:
    """The whole page for one version, as self-contained HTML."""
    sections = list(SECTIONS)
    if card.truth is not None:
        sections.append(("truth", "truth gap"))
    nav = "".join(f'<a href="#{anchor}">{escape(label)}</a>' for anchor, label in sections)
    notes = note(card.notes["predictions"]) if "predictions" in card.notes else ""
    split = card.evaluation.get("split", {})
    if split and not split.get("out_of_time", True):
        notes += f"<p class='flag'>{escape(str(split['description']))}</p>"
    body = "".join(
        [
            _header(card),
            f"<nav>{nav}</nav>",
            notes,
            _data_section(card),
            _verdict_section(card),
            _metric_section(card),
            _curves_section(card),
            _calibration_section(card),
            _profit_section(card),
            _decile_section(card),
            _segment_section(card),
            _importance_section(card),
            _drift_section(card),
            _realised_section(card),
            _truth_section(card),
        ]
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Model card {escape(card.model_version)}</title>"
        f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
