"""The model card: one self-contained HTML page per model version (`propensity report`).

Everything is read from a warehouse opened read-only: the registry row and its evaluation
(pooled out-of-time backtest metrics, baselines, curves, calibration, importance), the
out-of-time predictions file, the campaigns' economics, the as-of scored population and, when
the tables exist, drift and realised performance. On demo data a truth file adds the gap
between the model and the generator's true probabilities on the same rows.

This module gathers a version's card and writes it; report_html draws the page, which is the
same text for the same inputs: the only time on it is the model's training time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from propensity.card import ModelCard, Population
from propensity.economics import ECONOMICS_COLUMNS, campaign_profit
from propensity.models import RegistryError, connect_registry, version_in_use
from propensity.report_html import render_card
from propensity.report_regression import beats_summary as regression_beats_summary
from propensity.report_regression import headline as regression_headline
from propensity.report_regression import is_regression, render_regression_card
from propensity.report_text import beats_summary, fixed, goal_noise_text
from propensity.report_uplift import beats_summary as uplift_beats_summary
from propensity.report_uplift import headline as uplift_headline
from propensity.report_uplift import is_uplift, render_uplift_page, uplift_truth_file
from propensity.report_uplift import truth_gap as uplift_truth_gap
from propensity.truth import (
    TRUTH_GOAL_ROC_AUC,
    TruthComparison,
    TruthError,
    read_truth,
    truth_file_for,
    truth_gap,
)


class ReportError(ValueError):
    """The report cannot be written as asked."""


def _quiet(_: str) -> None:
    """A progress callback that says nothing."""


def _first_column(
    connection: duckdb.DuckDBPyConnection, query: str, parameters: Sequence[Any] = ()
) -> list[Any]:
    """The first column of a query's rows."""
    return [row[0] for row in connection.execute(query, list(parameters)).fetchall()]


def _columns(connection: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[str]:
    """A table's columns in order; none when the table does not exist."""
    return _first_column(
        connection,
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    )


def report_versions(
    connection: duckdb.DuckDBPyConnection, *, version: str | None = None, task: str | None = None
) -> list[str]:
    """The versions to report: the one named, else the one in use for the task, else the
    one in use for every task."""
    if version is not None:
        known = _first_column(connection, "select model_version from ml.model_registry order by 1")
        if version not in known:
            raise ReportError(f"no model version {version!r}; registered: {', '.join(known)}")
        return [version]
    tasks = _first_column(connection, "select distinct task from ml.model_registry order by 1")
    if task is not None:
        if task not in tasks:
            raise ReportError(f"task {task!r} has no registered model; tasks: {', '.join(tasks)}")
        tasks = [task]
    versions = [version_in_use(connection, name) for name in tasks]
    return [name for name in versions if name is not None]


def _registry_row(connection: duckdb.DuckDBPyConnection, version: str) -> dict[str, Any]:
    frame = connection.execute(
        "select * from ml.model_registry where model_version = ?", [version]
    ).df()
    if frame.empty:
        raise ReportError(f"no model version {version!r}")
    return frame.iloc[0].to_dict()


def _population(connection: duckdb.DuckDBPyConnection, task: str) -> Population | None:
    table = f"{task}_scores"
    columns = _columns(connection, "ml", table) if task.isidentifier() else []
    if not columns:
        return None
    # Scores of a task trained on the user's own table (train-table) have no snapshot.
    snapshot_sql = "max(snapshot_date)" if "snapshot_date" in columns else "null"
    rows, snapshot = connection.execute(
        f"select count(*), {snapshot_sql} from ml.{table}"
    ).fetchone()
    if isinstance(snapshot, datetime):
        snapshot = snapshot.date()
    return Population(rows=int(rows), snapshot_date=snapshot) if rows else None


def _campaigns(
    connection: duckdb.DuckDBPyConnection, task: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The task's active campaigns, or none and why."""
    columns = _columns(connection, "config", "campaigns")
    if not columns:
        return [], "no config.campaigns table in this warehouse"
    missing = [c for c in (*ECONOMICS_COLUMNS, "audience_rule") if c not in columns]
    if missing:
        return [], (
            f"config.campaigns has no {', '.join(missing)} column(s): rebuild the seeds "
            "(dbt seed) to get the campaign economics"
        )
    active = "is_active" if "is_active" in columns else "true"
    rows = connection.execute(
        f"select * from config.campaigns where task = ? and {active} order by campaign_id",
        [task],
    ).df()
    if rows.empty:
        return [], f"no active campaign for the task {task}"
    return rows.to_dict("records"), None


def _monitoring(
    connection: duckdb.DuckDBPyConnection, name: str, task: str, version: str
) -> pd.DataFrame | None:
    """A monitoring table's rows for the version (or the task), None without the table."""
    columns = _columns(connection, "monitoring", name)
    if not columns:
        return None
    if "model_version" in columns:
        condition, parameter = "model_version = ?", version
    elif "task" in columns:
        condition, parameter = "task = ?", task
    else:
        condition, parameter = "? is not null", version
    return connection.execute(
        f"select * from monitoring.{name} where {condition}", [parameter]
    ).df()


def _validation_rows(predictions: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The newest fold's rows and the score column the registered model gives them."""
    newest = predictions[predictions["fold"] == predictions["fold"].max()]
    if "registered_score" in newest and newest["registered_score"].notna().all():
        return newest, "registered_score"
    return newest, "score"


def load_card(
    connection: duckdb.DuckDBPyConnection,
    version: str,
    *,
    truth_file: Path | None = None,
    progress: Callable[[str], None] = _quiet,
) -> ModelCard:
    """Gather one version's card from an open (read-only) warehouse connection."""
    progress(f"{version}: reading the registry row and its evaluation")
    registry = _registry_row(connection, version)
    task = str(registry["task"])
    if not registry.get("evaluation_json"):
        raise ReportError(f"{version} has no evaluation_json: retrain it to get a model card")
    evaluation = json.loads(str(registry["evaluation_json"]))
    registry = {
        key: value
        for key, value in registry.items()
        if key not in ("scoring_sql", "explanation_sql", "evaluation_json", "metrics_json")
    }
    card = ModelCard(
        registry=registry,
        evaluation=evaluation,
        is_in_use=version_in_use(connection, task) == version,
        predictions=None,
        population=_population(connection, task),
    )
    path = Path(str(registry.get("predictions_path") or ""))
    if registry.get("predictions_path") and path.exists():
        progress(f"{version}: reading the out-of-time predictions ({path.name})")
        card.predictions = pd.read_parquet(path)
    else:
        card.notes["predictions"] = f"the predictions file {path} is missing"

    if is_regression(evaluation):
        return _load_regression_card(connection, card, truth_file, progress)
    campaigns, why = _campaigns(connection, task)
    if why:
        card.notes["profit"] = why
    elif card.predictions is None:
        card.notes["profit"] = "no out-of-time predictions to draw profit curves on"
    else:
        rows, column = _validation_rows(card.predictions)
        if column != "registered_score":
            card.notes["profit_scores"] = (
                "the predictions file has no registered (calibrated) scores; the raw scores "
                "of the chosen family are used"
            )
        progress(f"{version}: profit curves for {len(campaigns)} campaign(s) on {len(rows):,} rows")
        population = card.population.rows if card.population else None
        card.campaigns = [
            campaign_profit(
                campaign,
                rows[column].to_numpy(dtype=float),
                rows["label"].to_numpy(dtype=float),
                population,
            )
            for campaign in campaigns
        ]

    task_truth = truth_file_for(truth_file, task) if truth_file is not None else None
    if task_truth is not None and truth_file.is_dir() and not task_truth.exists():
        card.notes["truth"] = f"no truth file for {task} in {truth_file}"
    elif task_truth is not None:
        if card.predictions is None:
            card.notes["truth"] = "no out-of-time predictions to compare with the truth"
        else:
            progress(f"{version}: comparing with the true probabilities in {task_truth}")
            try:
                truth, column = read_truth(task_truth, task)
            except TruthError as error:
                # A truth file of other tasks (demo truth exists for up-sell and acquisition).
                card.notes["truth"] = str(error)
            else:
                try:
                    card.truth = truth_gap(card.predictions, truth, column)
                except TruthError as error:
                    raise ReportError(str(error)) from error

    progress(f"{version}: reading drift and realised performance")
    card.drift = _monitoring(connection, "feature_drift", task, version)
    card.drift_bins = _monitoring(connection, "feature_drift_bins", task, version)
    card.realised = _monitoring(connection, "realised_performance", task, version)
    return card


def _load_regression_card(
    connection: duckdb.DuckDBPyConnection,
    card: ModelCard,
    truth_file: Path | None,
    progress: Callable[[str], None],
) -> ModelCard:
    """A regression version's card: no campaign economics (they price probabilities), no
    truth gap (the demo's truth file holds up-sell probabilities), no realised performance
    (kept for classification tasks); drift as for any task."""
    if truth_file is not None:
        card.notes["truth"] = (
            f"the truth file {truth_file.name} holds probabilities; {card.task} predicts amounts, "
            "so no truth gap is shown"
        )
    progress(f"{card.model_version}: reading drift")
    card.drift = _monitoring(connection, "feature_drift", card.task, card.model_version)
    card.drift_bins = _monitoring(connection, "feature_drift_bins", card.task, card.model_version)
    return card


@dataclass(frozen=True)
class ReportSummary:
    """What the terminal says about one written report."""

    model_version: str
    task: str
    model_family: str
    path: Path
    roc_auc: float | None
    pr_auc: float | None
    lift_top_decile: float | None
    beats: str
    truth: TruthComparison | None
    seconds: float
    out_of_time: bool = True  # False for a train-table model split by a hash of its ids
    # A regression version's figures in one line (its roc_auc, pr_auc and lift are None).
    headline: str | None = None


def write_reports(
    warehouse: Path,
    out_dir: Path,
    *,
    version: str | None = None,
    task: str | None = None,
    truth_file: Path | None = None,
    progress: Callable[[str], None] = _quiet,
) -> list[ReportSummary]:
    """Write <out_dir>/<version>.html for the version named, or the one in use per task (of
    `task`, or of every task); returns what each page says in short."""
    try:
        connection = connect_registry(warehouse, read_only=True)
    except RegistryError as error:
        raise ReportError(str(error)) from error
    summaries = []
    with connection:
        versions = report_versions(connection, version=version, task=task)
        if not versions:
            raise ReportError("no registered model to report on")
        for name in versions:
            started = time.perf_counter()
            uplift = _uplift_report(connection, name, out_dir, truth_file)
            if uplift is not None:
                summaries.append(replace(uplift, seconds=time.perf_counter() - started))
                continue
            card = load_card(connection, name, truth_file=truth_file, progress=progress)
            progress(f"{name}: rendering the page")
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"{name}.html"
            if is_regression(card.evaluation):
                path.write_text(render_regression_card(card), encoding="utf-8")
                summaries.append(
                    ReportSummary(
                        model_version=name,
                        task=card.task,
                        model_family=str(card.registry["model_family"]),
                        path=path,
                        roc_auc=None,
                        pr_auc=None,
                        lift_top_decile=None,
                        beats=regression_beats_summary(card.evaluation),
                        truth=None,
                        seconds=time.perf_counter() - started,
                        headline=regression_headline(card.evaluation),
                    )
                )
                continue
            path.write_text(render_card(card), encoding="utf-8")
            overall = card.evaluation["overall"][card.evaluation["chosen"]]
            summaries.append(
                ReportSummary(
                    model_version=name,
                    task=card.task,
                    model_family=str(card.registry["model_family"]),
                    path=path,
                    roc_auc=overall.get("roc_auc"),
                    pr_auc=overall.get("pr_auc"),
                    lift_top_decile=overall.get("lift_top_decile"),
                    beats=beats_summary(card.evaluation),
                    truth=card.truth.pooled if card.truth else None,
                    seconds=time.perf_counter() - started,
                    out_of_time=card.evaluation.get("split", {}).get("out_of_time", True),
                )
            )
    return summaries


def _uplift_report(
    connection: duckdb.DuckDBPyConnection,
    version: str,
    out_dir: Path,
    truth_file: Path | None = None,
) -> ReportSummary | None:
    """Write an uplift version's page (None for any other version). A version of a pipeline
    uplift task (upsell_uplift) adds its campaign's persuadables audience and, with a truth
    file, the gap to the true effects on the held-out campaign."""
    registry = _registry_row(connection, version)
    evaluation = json.loads(str(registry.get("evaluation_json") or "{}"))
    if not is_uplift(evaluation):
        return None
    audience = truth = None
    if "held_out_campaign" in evaluation:
        economics, audience = _uplift_campaign(connection, str(registry["task"]))
        evaluation["economics"] = economics
        if truth_file is not None:
            held_out = pd.read_parquet(str(registry["predictions_path"]))
            truth = uplift_truth_gap(
                held_out, evaluation["chosen"], uplift_truth_file(truth_file), economics
            )
            evaluation["curves"]["oracle"] = truth["oracle_curve"]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{version}.html"
    page = render_uplift_page(registry, evaluation, audience=audience, truth=truth)
    path.write_text(page, encoding="utf-8")
    return ReportSummary(
        model_version=version,
        task=str(registry["task"]),
        model_family=str(registry["model_family"]),
        path=path,
        roc_auc=None,
        pr_auc=None,
        lift_top_decile=None,
        beats=uplift_beats_summary(evaluation),
        truth=None,
        seconds=0.0,
        out_of_time=evaluation.get("split", {}).get("out_of_time", True),
        headline=uplift_headline(evaluation),
    )


def _uplift_campaign(
    connection: duckdb.DuckDBPyConnection, task: str
) -> tuple[dict[str, float] | None, dict[str, float] | None]:
    """The economics and audience of the first active campaign targeting an uplift task, from
    the campaigns seed and audiences.campaign_audiences (none when there is no such campaign)."""
    if not _columns(connection, "audiences", "campaign_audiences"):
        return None, None
    campaign = connection.execute(
        "select campaign_id, value_per_conversion, margin_rate, cost_per_contact "
        "from config.campaigns where task = ? and is_active order by campaign_id limit 1",
        [task],
    ).fetchone()
    if campaign is None:
        return None, None
    campaign_id, value, margin, cost = campaign
    size, conversions, profit = connection.execute(
        "select count(*), coalesce(sum(score), 0), coalesce(sum(expected_profit), 0) "
        "from audiences.campaign_audiences where campaign_id = ?",
        [campaign_id],
    ).fetchone()
    candidates, negative = connection.execute(
        f"select count(*), count(*) filter (where score <= 0) from ml.{task}_scores"
    ).fetchone()
    economics = {"value": float(value), "margin": float(margin), "cost": float(cost)}
    audience = {
        "audience_size": float(size),
        "candidates": float(candidates),
        "negative_uplift": float(negative),
        "expected_incremental_conversions": float(conversions),
        "expected_incremental_profit": float(profit),
    }
    return economics, audience


def describe_report(summary: ReportSummary) -> str:
    """The few lines the terminal prints for one written report."""
    split = "out-of-time" if summary.out_of_time else "held-out (hash split, NOT out of time)"
    figures = summary.headline or (
        f"pooled {split} ROC-AUC {fixed(summary.roc_auc)}, PR-AUC {fixed(summary.pr_auc)}, "
        f"top-decile lift {fixed(summary.lift_top_decile, 2)}"
    )
    lines = [
        f"{summary.model_version} ({summary.task}, {summary.model_family}): {figures}",
        f"  {summary.beats}",
    ]
    if summary.truth is not None:
        truth = summary.truth
        lines.append(
            f"  truth gap: ROC-AUC {truth.model_roc_auc:.4f} vs truth {truth.truth_roc_auc:.4f} "
            f"(gap {truth.roc_auc_gap:.4f}, goal {TRUTH_GOAL_ROC_AUC}: "
            f"{'met' if truth.meets_goal else 'NOT met'}"
            + (f"; {goal_noise_text(truth)}" if truth.gap_interval else "")
            + "); "
            f"PR-AUC {truth.model_pr_auc:.4f} vs "
            f"{truth.truth_pr_auc:.4f}"
        )
    lines.append(f"  wrote {summary.path} in {summary.seconds:.1f}s")
    return "\n".join(lines)
