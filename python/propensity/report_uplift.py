"""The report page of an uplift version: Qini curves of each learner against the response model
and random targeting (inline SVG), the held-out metrics beside the out-of-fold Qini that chose
the learner, the calibration of its uplift and its check on the held-out rows, how the figures
are normalised, and the persuadables audience when the campaign's economics were given."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from propensity import charts
from propensity.html_table import Cell, facts, note, table
from propensity.report_html import STYLE
from propensity.report_text import fixed, integer, money, percent
from propensity.uplift import CALIBRATED, calibration_bins
from propensity.uplift_metrics import curve_points, qini_coefficient

UPLIFT_TRUTH_FILE = "uplift_truth.parquet"

NORMALISATION_NOTE = (
    "Rows are ranked by score, highest first. With k rows targeted, Q(k) = Y_t(k) - Y_c(k) * "
    "N_t(k) / N_c(k) (treated conversions minus control conversions scaled to the treated "
    "count) and U(k) = (Y_t(k) / N_t(k) - Y_c(k) / N_c(k)) * k; both are divided by the number "
    "of rows N and drawn against the share targeted. The Qini coefficient and AUUC are the "
    "areas between the curve and the random-targeting line (from 0 to the curve's end), so a "
    "random ranking scores 0 and a ranking worse than random scores below 0. Normalised: "
    "divided by the area of the best ranking of the observed outcomes (treated converters "
    "first, control converters last), 1 at most. Uplift at k%: treated minus control "
    "conversion rate among the top k%. Tied scores are targeted together (one step of the "
    "curve), so the figures do not depend on row order."
)
SELECTION_NOTE = (
    "The held-out rows never choose nor calibrate. The training rows are split into folds (a "
    "customer's rows in one fold); each learner predicts each fold from a fit on the others, "
    "and the learner with the best out-of-fold Qini (pooled over the folds) is chosen. Its "
    "uplift is calibrated by calibrated = a + b x raw (clipped to [-1, 1]), the least-squares "
    "fit of the IPW pseudo-outcome z = y (t / e - (1 - t) / (1 - e)) (e the treated share of "
    "the row's campaign; its mean given x is the true uplift) on the out-of-fold predictions; "
    "with b <= 0 every customer gets the mean of z, the average effect. The learner is then "
    "refitted on all training rows with the map in its ONNX graph. A positive linear map keeps "
    "the ranking, so the held-out Qini, AUUC and uplift at k% are the raw learners'."
)
NO_SIGNAL_NOTE = (
    "The chosen learner's out-of-fold ranking is NOT better than random on the training "
    "campaigns (slope b <= 0): every customer gets the same predicted uplift, the average "
    "effect, so the deployed score does not rank. The held-out Qini figures above (and the "
    "model Qini of the truth gap) are the raw learners' rankings, not the deployed score's."
)
METRIC_COLUMNS = (
    ("qini", "Qini", 5),
    ("qini_normalised", "Qini normalised", 3),
    ("auuc", "AUUC", 5),
    ("auuc_normalised", "AUUC normalised", 3),
    ("uplift_at_10", "uplift@10%", 4),
    ("uplift_at_20", "uplift@20%", 4),
    ("uplift_at_30", "uplift@30%", 4),
)


def is_uplift(evaluation: Mapping[str, Any]) -> bool:
    """Whether an evaluation is an uplift version's (train-uplift-table's)."""
    return evaluation.get("objective") == "uplift"


def scorer_name(name: str) -> str:
    """A scorer's name in words: 'two_model__logistic_regression' -> 'two-model (logistic)'."""
    learner, _, family = name.partition("__")
    families = {
        "logistic_regression": "logistic",
        "logistic_regression_strong": "strongly regularised logistic",
        "hist_gradient_boosting": "boosted stumps",
    }
    learners = {
        "two_model": "two-model",
        "class_transformation": "class transformation",
        "response": "response model",
    }
    if not family:
        references = {"random": "random targeting", "oracle": "oracle (true uplift)"}
        return references.get(learner, learner.replace("_", " "))
    return f"{learners.get(learner, learner)} ({families.get(family, family)})"


def qini_chart(evaluation: Mapping[str, Any]) -> str:
    """The held-out Qini curves: learners in colour (the chosen one wide), response models and
    random dashed."""
    chosen = evaluation["chosen"]
    series = []
    colours = itertools.cycle(charts.PALETTE[1:])  # more scorers than colours: repeat
    for name, points in evaluation["curves"].items():
        is_reference = name in ("random", "oracle") or name.startswith("response__")
        series.append(
            charts.Series(
                name=scorer_name(name) + (" (chosen)" if name == chosen else ""),
                points=[(float(x), float(y)) for x, y in points],
                color=charts.PALETTE[0]
                if name == chosen
                else (charts.REFERENCE_COLOR if name == "random" else next(colours)),
                dashed=is_reference,
                width=3.0 if name == chosen else 1.5,
            )
        )
    return charts.line_chart(
        series,
        title="Qini curves (held-out rows)",
        x_label="share of customers targeted",
        y_label="incremental conversions / customer",
        x_domain=(0.0, 1.0),
        x_format=charts.percent_label,
    )


def metric_rows(evaluation: Mapping[str, Any]) -> tuple[list[list[Cell | str]], list[str]]:
    """The metrics table's rows (chosen first, then learners, response models, random), with
    the out-of-fold Qini of each learner (what chose it) last."""
    metrics = evaluation["metrics"]
    chosen = evaluation["chosen"]
    oof_qini = evaluation.get("selection", {}).get("oof_qini", {})
    order = [chosen, *(name for name in metrics if name != chosen)]
    rows, classes = [], []
    for name in order:
        figures = metrics[name]
        rows.append(
            [Cell(scorer_name(name), is_text=True)]
            + [fixed(figures.get(key, float("nan")), digits) for key, _, digits in METRIC_COLUMNS]
            + [fixed(oof_qini.get(name, float("nan")), 5)]
        )
        classes.append("chosen" if name == chosen else "")
    return rows, classes


def uplift_truth_file(truth: Path) -> Path:
    """The demo's true-uplift file from --truth: the file itself, or uplift_truth.parquet in
    the directory given (or beside the file given)."""
    if truth.is_dir():
        return truth / UPLIFT_TRUTH_FILE
    return truth if truth.name == UPLIFT_TRUTH_FILE else truth.parent / UPLIFT_TRUTH_FILE


def truth_gap(
    held_out: pd.DataFrame,
    chosen: str,
    truth_file: Path,
    economics: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The gap to the true effects on the held-out campaign's rows (the only scored rows with
    a true uplift: the as-of population has none): the oracle's Qini (ranking by the true
    uplift), the model's share of it, Spearman of predicted with true uplift, the mean
    predicted (calibrated) and true uplift of the rows the persuadables rule would take (uplift
    > 0 and uplift x value x margin > cost) against all held-out rows, and the calibration
    bins with the mean true uplift per bin."""
    truth = pd.read_parquet(truth_file, columns=["campaign_id", "customer_id", "true_uplift"])
    rows = held_out.merge(truth, on=["campaign_id", "customer_id"], how="inner", validate="1:1")
    if rows.empty:
        raise ValueError(f"{truth_file}: no true uplift for the held-out campaign's rows")
    score = rows[f"score__{chosen}"].to_numpy(dtype=np.float64)
    # The deployed uplift: calibrated (versions before calibration stored the raw one only).
    predicted = rows[CALIBRATED if CALIBRATED in rows else f"score__{chosen}"].to_numpy(
        dtype=np.float64
    )
    true = rows["true_uplift"].to_numpy(dtype=np.float64)
    oracle = qini_coefficient(true, rows["treatment"], rows["outcome"])
    model = qini_coefficient(score, rows["treatment"], rows["outcome"])
    selected = predicted > 0
    if economics is not None:
        selected &= predicted * economics["value"] * economics["margin"] > economics["cost"]
    return {
        "rows": len(rows),
        "held_out_rows": len(held_out),
        "qini_oracle": oracle,
        "qini_model": model,
        "share_of_oracle": model / oracle if oracle > 0 else float("nan"),
        "spearman": float(spearmanr(score, true).statistic),
        "audience_rows": int(selected.sum()),
        "audience_mean_true_uplift": float(true[selected].mean()) if selected.any() else np.nan,
        "audience_mean_predicted_uplift": (
            float(predicted[selected].mean()) if selected.any() else np.nan
        ),
        "mean_true_uplift": float(true.mean()),
        "mean_predicted_uplift": float(predicted.mean()),
        "calibration_check": calibration_bins(
            predicted, rows["treatment"].to_numpy(), rows["outcome"].to_numpy(), oracle=true
        ),
        "oracle_curve": [
            list(point) for point in curve_points(true, rows["treatment"], rows["outcome"])
        ],
    }


def truth_rows(gap: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The truth gap as labelled facts."""
    return [
        (
            "held-out rows with a true uplift",
            f"{integer(gap['rows'])} of {integer(gap['held_out_rows'])}",
        ),
        ("oracle Qini (ranking by the true uplift)", fixed(gap["qini_oracle"], 5)),
        (
            "model Qini, share of the oracle's",
            f"{fixed(gap['qini_model'], 5)} ({percent(gap['share_of_oracle'])})",
        ),
        ("Spearman, predicted vs true uplift", fixed(gap["spearman"], 3)),
        (
            "mean true uplift: persuadables rule vs all held-out rows",
            f"{percent(gap['audience_mean_true_uplift'])} ({integer(gap['audience_rows'])} rows)"
            f" vs {percent(gap['mean_true_uplift'])}",
        ),
        (
            "mean predicted uplift: persuadables rule vs all held-out rows",
            f"{percent(gap['audience_mean_predicted_uplift'])} vs "
            f"{percent(gap['mean_predicted_uplift'])}",
        ),
    ]


def calibration_section(
    evaluation: Mapping[str, Any], truth: Mapping[str, Any] | None = None
) -> list[str]:
    """How the learner was chosen, its calibration and the held-out calibration bins (with the
    mean true uplift per bin when the demo truth is given)."""
    calibration = evaluation.get("calibration")
    if calibration is None:
        return [note("This version predates out-of-fold selection and calibration.")]
    selection = evaluation["selection"]
    chosen = evaluation["chosen"]
    parts = [
        facts(
            [
                (
                    "chosen by",
                    f"{selection['method']} ({selection['folds']} folds): "
                    f"{fixed(selection['oof_qini'][chosen], 5)} out of fold, "
                    f"{fixed(evaluation['metrics'][chosen]['qini'], 5)} held out",
                ),
                (
                    "calibration, calibrated = a + b x raw",
                    f"a {fixed(calibration['intercept'], 5)}, b {fixed(calibration['slope'], 4)}"
                    f" (fitted on {integer(calibration['rows'])} out-of-fold rows; mean "
                    f"pseudo-outcome {percent(calibration['mean_pseudo_outcome'], 2)})",
                ),
                (
                    "ranking signal on the training campaigns",
                    "yes (b > 0)" if calibration["signal"] else "NO: not better than random",
                ),
            ]
        ),
    ]
    if not calibration["signal"]:
        parts.append(note(NO_SIGNAL_NOTE))
    check = (truth or {}).get("calibration_check") or evaluation.get("calibration_check")
    if check:
        with_true = "mean_true" in check["overall"]
        headers = ["bin", "rows", "mean predicted", "observed uplift", "95% interval"]
        rows = []
        for label, figures in [
            *((str(row["bin"]), row) for row in check["bins"]),
            ("all", check["overall"]),
        ]:
            rows.append(
                [
                    Cell(label, is_text=True),
                    integer(figures["rows"]),
                    percent(figures["mean_predicted"], 2),
                    percent(figures["observed_uplift"], 2),
                    f"{percent(figures['observed_low'], 2)} to "
                    f"{percent(figures['observed_high'], 2)}",
                ]
                + ([percent(figures["mean_true"], 2)] if with_true else [])
            )
        parts += [
            table(headers + (["mean true uplift"] if with_true else []), rows),
            note(
                "Held-out rows in quantile bins of the calibrated predicted uplift: the mean "
                "predicted uplift against the observed one (treated minus control conversion "
                "rate, normal 95% interval)."
            ),
        ]
    return parts


def render_uplift_page(
    registry: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    *,
    audience: Mapping[str, float] | None = None,
    truth: Mapping[str, Any] | None = None,
) -> str:
    """The whole page for one uplift version, as self-contained HTML."""
    version = str(registry["model_version"])
    chosen = evaluation["chosen"]
    figures = evaluation["metrics"][chosen]
    split = evaluation.get("split", {})
    rows, classes = metric_rows(evaluation)
    economics = evaluation.get("economics")
    parts = [
        f"<h1>Uplift model {escape(version)}</h1>",
        facts(
            [
                ("chosen learner", scorer_name(chosen)),
                ("treatment / outcome", f"{evaluation['treatment']} / {evaluation['outcome']}"),
                ("trained on", f"{integer(registry['training_rows'])} rows"),
                (
                    "held out",
                    f"{integer(figures['rows'])} rows ({integer(figures['treated_rows'])}"
                    f" treated, {integer(figures['control_rows'])} control)",
                ),
                ("overall uplift (held out)", percent(figures["overall_uplift"])),
                ("split", str(split.get("description", ""))),
            ]
        ),
        "<h2 id='curves'>Qini curves</h2>",
        f"<div class='charts'>{qini_chart(evaluation)}</div>",
        "<h2 id='metrics'>Held-out metrics</h2>",
        table(
            ["scorer", *(label for _, label, _ in METRIC_COLUMNS), "OOF Qini (training)"],
            rows,
            classes,
        ),
        note(
            "The response model ranks by the probability of the outcome when treated (a "
            "classifier of treated rows only): plain propensity targeting."
        ),
        "<h2 id='calibration'>Selection and calibration</h2>",
        *calibration_section(evaluation, truth),
        f"<p>{escape(SELECTION_NOTE)}</p>",
        "<h2 id='normalisation'>How the figures are normalised</h2>",
        f"<p>{escape(NORMALISATION_NOTE)}</p>",
        "<h2 id='audience'>Persuadables audience</h2>",
    ]
    if audience is None or economics is None:
        parts.append(
            note(
                "No campaign economics: give --value, --margin and --cost (train-uplift-table),"
                " or target the task from a campaign of the campaigns seed."
            )
        )
    else:
        parts.append(
            facts(
                [
                    (
                        "economics",
                        f"value {economics['value']:,.2f}, margin {percent(economics['margin'])}"
                        f", cost per contact {economics['cost']:,.2f}",
                    ),
                    (
                        "audience",
                        f"{integer(audience['audience_size'])} of "
                        f"{integer(audience['candidates'])} customers (uplift > 0 and "
                        "uplift x value x margin > cost)",
                    ),
                    ("negative uplift, left out", integer(audience["negative_uplift"])),
                    (
                        "expected incremental conversions",
                        fixed(audience["expected_incremental_conversions"], 1),
                    ),
                    (
                        "expected incremental profit",
                        money(audience["expected_incremental_profit"]),
                    ),
                ]
            )
        )
    if truth is not None:
        parts += [
            "<h2 id='truth'>Gap to the true effects (demo truth)</h2>",
            facts(truth_rows(truth)),
            note(
                "Measured on the held-out campaign's rows: the generator knows the true uplift "
                "of each exposure only, and the as-of population scored for the audience has "
                "none. The persuadables rule is applied to those rows with the campaign's "
                "economics."
            ),
        ]
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Uplift model {escape(version)}</title>"
        f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def headline(evaluation: Mapping[str, Any]) -> str:
    """The chosen learner's held-out figures in one line."""
    figures = evaluation["metrics"][evaluation["chosen"]]
    line = (
        f"held-out Qini {fixed(figures['qini'], 5)} (normalised "
        f"{fixed(figures['qini_normalised'], 3)}), AUUC {fixed(figures['auuc'], 5)}, "
        f"uplift@10% {fixed(figures['uplift_at_10'], 4)}"
    )
    if not evaluation.get("calibration", {}).get("signal", True):
        line += "; ranking NOT better than random on the training campaigns"
    return line


def beats_summary(evaluation: Mapping[str, Any]) -> str:
    """One line: whether the chosen learner's Qini beats each response model's."""
    metrics = evaluation["metrics"]
    qini = metrics[evaluation["chosen"]]["qini"]
    responses = [name for name in metrics if name.startswith("response__")]
    losing = [scorer_name(name) for name in responses if metrics[name]["qini"] >= qini]
    if not losing:
        return f"beats the {len(responses)} response model(s) and random targeting on held-out Qini"
    return f"does NOT beat {', '.join(losing)} on held-out Qini"
