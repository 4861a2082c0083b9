"""The model card of a regression version (a predicted amount, e.g. revenue over the next 90
days): the same self-contained page as a classifier's, with the regression metrics against the
RFM and run-rate baselines, a plain-words verdict, per-fold metrics, the revenue gains curve,
deciles of predicted against actual revenue, per-segment metrics, importance and drift.

The plain words (verdict, one-line summary) are here too, since only this page and the
terminal summary of a regression version use them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

import pandas as pd

from propensity import charts
from propensity.card import ModelCard
from propensity.html_table import Cell, facts, note, table
from propensity.report_html import IMPORTANCE_BARS, STYLE, _drift_section, _scorer_order
from propensity.report_text import (
    MISSING,
    date_text,
    fixed,
    integer,
    money,
    percent,
    scorer_label,
)

# Regression scorers' names in sentences and tables, beside report_text's.
REGRESSION_PHRASES = {
    "poisson_regression": "the Poisson regression",
    "poisson_gradient_boosting": "the gradient-boosted Poisson trees",
    "rfm": "the RFM score (recency, frequency and monetary quintiles summed)",
    "run_rate": "the run rate (spend in the last 3 months scaled to the horizon)",
}
REGRESSION_LABELS = {
    "poisson_regression": "Poisson regression",
    "poisson_gradient_boosting": "Poisson gradient boosting",
    "rfm": "RFM score",
    "run_rate": "run rate",
}
# (key, header, decimals, is an amount metric)
METRIC_COLUMNS = (
    ("rmse", "RMSE", 2, True),
    ("mae", "MAE", 2, True),
    ("poisson_deviance", "Poisson deviance", 2, True),
    ("r2", "R\u00b2", 4, True),
    ("calibration_ratio", "calibration ratio", 4, True),
    ("spearman", "Spearman", 4, False),
    ("gini", "Gini (normalised)", 4, False),
    ("revenue_share_top_10", "revenue in top 10%", 4, False),
    ("revenue_share_top_20", "revenue in top 20%", 4, False),
)
SECTIONS = (
    ("data", "data"),
    ("verdict", "verdict"),
    ("metrics", "metrics"),
    ("gains", "revenue gains"),
    ("deciles", "deciles"),
    ("segments", "segments"),
    ("importance", "importance"),
    ("drift", "drift"),
    ("realised", "realised performance"),
)


def is_regression(evaluation: Mapping[str, Any]) -> bool:
    """Whether an evaluation is a regression model's (evaluate_regression's summary)."""
    return evaluation.get("objective") == "regression"


def label(name: str) -> str:
    """A scorer's short name for tables and legends."""
    return REGRESSION_LABELS.get(name) or scorer_label(name)


def phrase(name: str, evaluation: Mapping[str, Any]) -> str:
    """How a sentence names a scorer."""
    if name in REGRESSION_PHRASES:
        return REGRESSION_PHRASES[name]
    kind = "model" if name in evaluation.get("candidates", ()) else "rule"
    return f"the {name.replace('_', ' ')} {kind}"


def _share(value: float | None) -> str:
    return MISSING if value is None else f"{value:.0%}"


def verdict_line(entry: Mapping[str, Any], evaluation: Mapping[str, Any]) -> str:
    """One plain sentence: whether the model beats one scorer (a higher normalised Gini and,
    against an amount, a lower RMSE), with the figures that decide it."""
    name = phrase(str(entry["scorer"]), evaluation)
    gini, top = entry["gini"], entry["revenue_share_top_10"]
    if gini["model"] is None or gini["scorer"] is None:
        return f"The model cannot be compared with {name}: there is no revenue on these rows."
    ranking = (
        f"normalised Gini {gini['model']:.3f} vs {gini['scorer']:.3f}; the top 10% by "
        f"prediction hold {_share(top['model'])} of the revenue vs {_share(top['scorer'])}"
    )
    amounts = ""
    if entry.get("is_amount"):
        rmse, ratio = entry["rmse"], entry["calibration_ratio"]
        if rmse["model"] is not None and rmse["scorer"]:
            change = (rmse["model"] - rmse["scorer"]) / rmse["scorer"]
            amounts = (
                f"RMSE {money(rmse['model'])} vs {money(rmse['scorer'])} "
                f"({abs(change):.0%} {'lower' if change < 0 else 'higher'}), "
            )
        amounts += f"calibration ratio {fixed(ratio['model'], 2)} vs {fixed(ratio['scorer'], 2)}; "
    if entry["model_beats_it"]:
        return f"The model beats {name}: {amounts}{ranking}."
    return f"The model does NOT beat {name}: {amounts}{ranking}."


def ordered_comparisons(evaluation: Mapping[str, Any]) -> list[dict]:
    """Comparisons with the baselines first (in their order), then the other candidates."""
    baselines = list(evaluation.get("baselines", []))

    def rank(entry: dict) -> tuple[int, int, str]:
        name = entry["scorer"]
        return (0, baselines.index(name), name) if name in baselines else (1, 0, name)

    return sorted(evaluation.get("comparison", []), key=rank)


def beats_summary(evaluation: Mapping[str, Any]) -> str:
    """One line: how many of the other scorers the model beats, naming those it does not."""
    comparisons = ordered_comparisons(evaluation)
    losing = [label(entry["scorer"]) for entry in comparisons if not entry["model_beats_it"]]
    total = len(comparisons)
    criterion = "on pooled Gini (and RMSE against amounts)"
    if not losing:
        return f"beats all {total} other scorers {criterion}"
    return (
        f"beats {total - len(losing)} of {total} other scorers {criterion}; "
        f"does NOT beat: {', '.join(losing)}"
    )


def headline(evaluation: Mapping[str, Any]) -> str:
    """The chosen model's pooled out-of-time figures in one line."""
    overall = evaluation["overall"][evaluation["chosen"]]
    return (
        f"pooled out-of-time RMSE {fixed(overall['rmse'], 2)}, normalised Gini "
        f"{fixed(overall['gini'])}, top-10% revenue share "
        f"{percent(overall['revenue_share_top_10'])}, calibration ratio "
        f"{fixed(overall['calibration_ratio'], 3)}"
    )


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


def _horizon(evaluation: Mapping[str, Any]) -> str:
    days = evaluation.get("horizon_days")
    return f"the next {days} days" if days else "the label window"


def _header(card: ModelCard) -> str:
    registry = card.registry
    in_use = "yes" if card.is_in_use else "no (another version is in use)"
    rows = [
        ("task", card.task),
        ("model version", card.model_version),
        ("model family", str(registry["model_family"])),
        ("objective", f"regression: revenue over {_horizon(card.evaluation)}"),
        ("trained at (UTC)", f"{pd.Timestamp(registry['trained_at']):%Y-%m-%d %H:%M:%S}"),
        ("in use", in_use),
        ("ONNX sha256", str(registry.get("onnx_sha256") or MISSING)),
        ("ONNX file", str(registry.get("onnx_path") or MISSING)),
    ]
    return (
        f"<h1>Model card: {escape(card.model_version)}</h1>"
        f"<p>{escape(card.task)}: predicted revenue per customer over "
        f"{escape(_horizon(card.evaluation))}, {escape(label(str(registry['model_family'])))}"
        f" &mdash; {escape(beats_summary(card.evaluation))}.</p>" + facts(rows)
    )


def _data_section(card: ModelCard) -> str:
    registry = card.registry
    evaluation = card.evaluation
    overall = evaluation["overall"][evaluation["chosen"]]
    training_rows = int(registry["training_rows"])
    validation_rows = int(registry["validation_rows"])
    features = json.loads(str(registry.get("feature_columns") or "[]"))
    folds = evaluation.get("folds", [])
    # The registered model is the newest fold's fit: its validation metrics are that fold's.
    metrics = folds[-1]["metrics"][evaluation["chosen"]] if folds else {}
    population = card.population
    rows = [
        (
            "training window",
            f"snapshots {date_text(registry['training_snapshot_start'])} to "
            f"{date_text(registry['training_snapshot_end'])}",
        ),
        (
            "training rows",
            f"{training_rows:,} ({int(registry['training_positives']):,} with revenue in the "
            "window)",
        ),
        ("validation snapshot", date_text(registry["validation_snapshot"])),
        (
            "validation rows",
            f"{validation_rows:,} ({int(registry['validation_positives']):,} with revenue)",
        ),
        (
            "registered model on the validation snapshot",
            f"RMSE {fixed(metrics.get('rmse'), 2)}, normalised Gini {fixed(metrics.get('gini'))}",
        ),
        (
            "backtest",
            f"{len(folds)} rolling-origin folds tested on "
            f"{', '.join(fold['test_snapshot'] for fold in folds)}; pooled "
            f"{integer(overall['rows'])} rows, {integer(overall['buyers'])} with revenue, mean "
            f"revenue {fixed(overall['actual_mean'], 2)}. " + _purge_text(evaluation),
        ),
        (
            "as-of population (scored now)",
            f"{population.rows:,} customers on {date_text(population.snapshot_date)}"
            if population
            else f"unknown: no ml.{card.task}_scores table",
        ),
        ("features", f"{len(features)}: {', '.join(features)}"),
    ]
    return "<h2 id='data'>Data window and population</h2>" + facts(rows)


def _purge_text(evaluation: Mapping[str, Any]) -> str:
    """How the folds' training rows relate to their test windows, in words."""
    if evaluation.get("purged_folds"):
        return (
            "Each fold trained only on snapshots whose label window had closed by its test "
            "snapshot (what was known then)."
        )
    return (
        "NOT purged: no snapshot's label window closed before the newest test snapshot, so "
        "the folds trained on every earlier snapshot, whose labels run into the test window "
        "and include the test customers' own later revenue. These figures are optimistic "
        "(measured on value_90d with 2,000 demo customers, the same overlap raised the "
        "normalised Gini from 0.53 to 0.59)."
    )


def _verdict_section(card: ModelCard) -> str:
    evaluation = card.evaluation
    items = []
    for entry in ordered_comparisons(evaluation):
        css = "" if entry["model_beats_it"] else ' class="not-beaten"'
        items.append(f"<li{css}>{escape(verdict_line(entry, evaluation))}</li>")
    selection = evaluation.get("selection", {})
    choice = ", ".join(
        f"{label(name)} {fixed(value, 2)}"
        for name, value in sorted(selection.get("mean_fold", {}).items())
    )
    intro = (
        f"The chosen model is {escape(phrase(evaluation['chosen'], evaluation))} "
        f"({escape(selection.get('criterion', 'best over the folds'))}: {escape(choice)}). "
        "Every comparison is on the same pooled out-of-time rows. &ldquo;Beats&rdquo; means "
        "it ranks customers by revenue better (a higher normalised Gini) and, against a rule "
        "that predicts amounts, also predicts them better (a lower RMSE). The RFM score "
        "only ranks, so only the ranking figures compare with it."
    )
    if not evaluation.get("purged_folds"):
        intro += (
            " <strong>Caution:</strong> the folds are not purged (see the data section): the "
            "models' figures are optimistic, the rules' (which learn nothing) are not."
        )
    return f"<h2 id='verdict'>Verdict</h2><p>{intro}</p><ul class='verdict'>{''.join(items)}</ul>"


def _kind(name: str, evaluation: Mapping[str, Any]) -> str:
    if name in evaluation.get("candidates", ()):
        return "model"
    return "amount rule" if name in evaluation.get("amount_scorers", ()) else "ranking rule"


def _metric_cells(metrics: Mapping[str, Any]) -> list[Cell | str]:
    return [fixed(metrics.get(key), digits) for key, _, digits, _ in METRIC_COLUMNS]


def _metric_section(card: ModelCard) -> str:
    evaluation = card.evaluation
    chosen = evaluation["chosen"]
    order = _scorer_order(evaluation)
    rows, classes = [], []
    for name in order:
        shown = label(name) + (" (chosen)" if name == chosen else "")
        rows.append(
            [
                Cell(shown, is_text=True),
                Cell(_kind(name, evaluation), is_text=True),
                *_metric_cells(evaluation["overall"][name]),
            ]
        )
        classes.append("chosen" if name == chosen else "")
    headers = ["scorer", "kind", *[header for _, header, _, _ in METRIC_COLUMNS]]
    folds = evaluation.get("folds", [])
    fold_rows = []
    for fold in folds:
        first = next(iter(fold["metrics"].values()))
        fold_rows.append(
            [
                Cell(str(fold["fold"]), is_text=True),
                fold["test_snapshot"],
                f"{fold['train_snapshot_start']}..{fold['train_snapshot_end']}",
                integer(fold["train_rows"]),
                f"{integer(first['rows'])} ({integer(first['buyers'])} with revenue)",
                *[
                    f"{fixed(fold['metrics'][name]['rmse'], 2)} / "
                    f"{fixed(fold['metrics'][name]['gini'])}"
                    for name in order
                    if name in fold["metrics"]
                ],
            ]
        )
    fold_headers = ["fold", "test snapshot", "training window", "training rows", "test rows"]
    fold_headers += [
        f"{label(name)} RMSE / Gini" for name in order if folds and name in folds[0]["metrics"]
    ]
    return (
        "<h2 id='metrics'>Metrics</h2>"
        "<p>Pooled over every backtest fold's out-of-time test rows. RMSE, MAE, Poisson "
        "deviance (mean; defined only when every prediction is positive), R\u00b2 and the "
        "calibration ratio (sum predicted / sum actual; 1 is right on average) apply to "
        "amounts; Spearman rank correlation, the normalised Gini of revenue (1 perfect, 0 "
        "random) and the revenue held by the best-predicted 10% and 20% apply to every "
        "scorer.</p>"
        + table(headers, rows, classes)
        + "<h3>Per fold (RMSE / normalised Gini)</h3>"
        + table(fold_headers, fold_rows)
    )


def _gains_section(card: ModelCard) -> str:
    evaluation = card.evaluation
    chosen = evaluation["chosen"]
    candidates = set(evaluation.get("candidates", []))
    order = _scorer_order(evaluation)
    series = [
        charts.Series(
            name=label(name) + (" (chosen)" if name == chosen else ""),
            points=[tuple(p) for p in evaluation["curves"][name]["revenue_gains"]],
            color=charts.PALETTE[index % len(charts.PALETTE)],
            dashed=name not in candidates,
            width=2.5 if name == chosen else 1.6,
        )
        for index, name in enumerate(order)
        if evaluation["curves"].get(name, {}).get("revenue_gains")
    ]
    if evaluation.get("perfect_gains"):
        series.append(
            charts.Series(
                name="perfect order",
                points=[tuple(p) for p in evaluation["perfect_gains"]],
                color=charts.REFERENCE_COLOR,
                width=1.2,
            )
        )
    chart = charts.line_chart(
        series,
        title="Revenue gains (pooled out-of-time rows)",
        x_label="share of customers contacted (best predictions first)",
        y_label="share of actual revenue",
        x_domain=(0, 1),
        y_domain=(0, 1),
        diagonal=True,
        x_format=charts.percent_label,
        y_format=charts.percent_label,
    )
    shares = evaluation.get("top_shares", {})
    percents = [row["percent"] for row in shares.get(chosen, [])]
    rows = [
        [
            Cell(label(name), is_text=True),
            *[percent(row["revenue_share"]) for row in shares[name]],
        ]
        for name in order
        if name in shares
    ]
    return (
        "<h2 id='gains'>Revenue gains</h2>"
        "<p>The share of the actual revenue held by the customers with the best predictions, "
        "for every share of customers contacted. Models are solid, rules dashed; the grey "
        "line is the perfect order (by actual revenue), the dashed diagonal random "
        "targeting. Customers with tied scores (the RFM score has 13 values) count as one "
        "block sharing its revenue evenly.</p>"
        f"<div class='charts'>{chart}</div>"
        + table(["scorer", *[f"top {k}%" for k in percents]], rows)
    )


def _decile_section(card: ModelCard) -> str:
    evaluation = card.evaluation
    chosen = evaluation["chosen"]
    deciles = evaluation.get("deciles", {})
    chosen_rows = deciles.get(chosen, [])
    chart = charts.line_chart(
        [
            charts.Series(
                "mean predicted",
                [(row["decile"], row["mean_score"]) for row in chosen_rows],
                color=charts.PALETTE[0],
                dots=True,
            ),
            charts.Series(
                "mean actual",
                [(row["decile"], row["mean_actual"]) for row in chosen_rows],
                color=charts.PALETTE[1],
                dots=True,
            ),
        ],
        title=f"Predicted vs actual revenue by decile ({label(chosen)})",
        x_label="decile of the prediction (1 = highest)",
        y_label="mean revenue per customer",
        x_domain=(1, 10),
    )
    rows = [
        [
            Cell(str(row["decile"]), is_text=True),
            integer(row["rows"]),
            integer(row["buyers"]),
            fixed(row["mean_score"], 2),
            fixed(row["mean_actual"], 2),
            percent(row["revenue_share"]),
            percent(row["cumulative_share"]),
        ]
        for row in chosen_rows
    ]
    order = [name for name in _scorer_order(evaluation) if name in deciles]
    share_rows = [
        [Cell(str(decile), is_text=True)]
        + [percent(deciles[name][decile - 1]["revenue_share"]) for name in order]
        for decile in range(1, len(chosen_rows) + 1)
    ]
    return (
        "<h2 id='deciles'>Deciles</h2>"
        "<p>The chosen model's pooled out-of-time predictions cut into ten groups (1 = the "
        "highest predictions): the mean prediction against the mean actual revenue, and each "
        "decile's share of all revenue; then every scorer's revenue share by its own deciles "
        "(tied scores keep row order).</p>"
        f"<div class='charts'>{chart}</div>"
        + table(
            [
                "decile",
                "rows",
                "with revenue",
                "mean predicted",
                "mean actual",
                "revenue share",
                "cumulative share",
            ],
            rows,
        )
        + table(["decile", *[f"{label(name)} revenue share" for name in order]], share_rows)
    )


def _segment_section(card: ModelCard) -> str:
    rows = [
        [
            Cell(str(segment["label"]), is_text=True),
            integer(segment["rows"]),
            integer(segment["buyers"]),
            fixed(segment["actual_mean"], 2),
            fixed(segment["predicted_mean"], 2),
            fixed(segment["calibration_ratio"], 3),
            fixed(segment["rmse"], 2),
            fixed(segment["gini"]),
            percent(segment["revenue_share_top_10"]),
        ]
        for segment in card.evaluation.get("segments", [])
    ]
    return (
        "<h2 id='segments'>Per segment</h2>"
        "<p>The chosen model within each segment (pooled out-of-time rows; the last two "
        "segments overlap the lifecycle ones): a calibration ratio far from 1 means the "
        "segment's total is over- or under-predicted.</p>"
        + table(
            [
                "segment",
                "rows",
                "with revenue",
                "mean actual",
                "mean predicted",
                "calibration ratio",
                "RMSE",
                "Gini",
                "revenue in top 10%",
            ],
            rows,
        )
    )


def _importance_section(card: ModelCard) -> str:
    importance = card.evaluation.get("importance", [])
    head = "<h2 id='importance'>Importance</h2>"
    if not importance:
        return head + note("no importance in the evaluation")
    shown = importance[:IMPORTANCE_BARS]
    chart = charts.bar_chart(
        [(str(row["feature"]), float(row["importance_mean"])) for row in shown],
        errors=[float(row["importance_std"]) for row in shown],
        title=f"Permutation importance (top {len(shown)})",
        x_label="rise in mean Poisson deviance when the feature is shuffled",
    )
    rows = [
        [
            Cell(str(rank), is_text=True),
            Cell(str(row["feature"]), is_text=True),
            Cell(str(row.get("description") or row["feature"]).replace("{value}", "\u2026"), True),
            fixed(row["importance_mean"], 3),
            fixed(row["importance_std"], 3),
        ]
        for rank, row in enumerate(importance, start=1)
    ]
    return (
        head + "<p>Permutation importance on a sample of the validation snapshot: how much the "
        "mean Poisson deviance rises when one feature's values are shuffled (mean \u00b1 std "
        "over repeats).</p>"
        f"<div class='charts'>{chart}</div>"
        + table(["rank", "feature", "what it means", "deviance rise", "std"], rows)
    )


def _realised_section(card: ModelCard) -> str:
    return "<h2 id='realised'>Realised performance</h2>" + note(
        "monitoring.realised_performance follows classification tasks only; a value "
        "task's scores are kept in monitoring.score_history and its matured labels in "
        f"ml.{card.task}_training_set"
    )


def render_regression_card(card: ModelCard) -> str:
    """The whole page for one regression version, as self-contained HTML."""
    nav = "".join(f'<a href="#{anchor}">{escape(name)}</a>' for anchor, name in SECTIONS)
    notes = "".join(note(text) for text in card.notes.values())
    body = "".join(
        [
            _header(card),
            f"<nav>{nav}</nav>",
            notes,
            _data_section(card),
            _verdict_section(card),
            _metric_section(card),
            _gains_section(card),
            _decile_section(card),
            _segment_section(card),
            _importance_section(card),
            _drift_section(card),
            _realised_section(card),
        ]
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Model card {escape(card.model_version)}</title>"
        f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
