"""`propensity train-uplift-table`: uplift models on a user's flat experiment table (feature
columns, a 0/1 treatment column and a 0/1 outcome column of a randomised campaign).

The table is read, encoded, registered and scored by the same machinery as train-table
(`own_table.prepare_table` and `own_table.register_and_score`); in between, `uplift.fit_uplift`
chooses a learner by its out-of-fold Qini on all but the newest periods (or hash pseudo-periods
without a time column; an --id's rows stay in one fold), calibrates its uplift on those
out-of-fold predictions, and measures every learner and the response model on the held-out rows.
The registered version's SQL gives each row's predicted uplift, so `score-table` scores new
rows with it; with the campaign's economics the persuadables audience is sized and written.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from propensity.own_table import (
    OwnTableResult,
    OwnTableSettings,
    PreparedTable,
    _quiet,
    prepare_table,
    register_and_score,
)
from propensity.report_uplift import render_uplift_page
from propensity.table_encoding import PERIOD_COLUMN, EncodingError
from propensity.table_scoring import OwnTableError, describe_parity
from propensity.train import FEATURES_PLACEHOLDER, TrainedModel
from propensity.uplift import (
    UPLIFT_FAMILIES,
    CampaignEconomics,
    PersuadablesAudience,
    UpliftDataError,
    UpliftFit,
    fit_uplift,
    holdout_periods,
    persuadables_audience,
)


@dataclass(frozen=True)
class UpliftTableResult:
    """A trained, registered and scored uplift version, its audience and its report page."""

    table: OwnTableResult
    fit: UpliftFit
    report_path: Path
    audience: PersuadablesAudience | None = None
    audience_table: str | None = None


def _split(prepared: PreparedTable, holdout: np.ndarray) -> dict:
    """How the rows were split, in words, for the registry and the report."""
    encoding = prepared.encoding
    periods = prepared.training[PERIOD_COLUMN]
    held = sorted(pd.Timestamp(period) for period in periods[holdout].unique())
    share = f"{int(holdout.sum()):,} rows, {holdout.mean():.0%}"
    if encoding.time_column is not None:
        return {
            "kind": "time",
            "out_of_time": True,
            "period": encoding.period,
            "description": (
                f"Rows are grouped into {len(prepared.periods)} {encoding.period} periods of "
                f"{encoding.time_column}; the learners are fitted on the periods before "
                f"{held[0]:%Y-%m-%d} and measured on the newest {len(held)} ({share}): out of "
                "time."
            ),
        }
    return {
        "kind": "hash",
        "out_of_time": False,
        "pseudo_periods": encoding.pseudo_periods,
        "description": (
            f"No time column: rows are assigned to {encoding.pseudo_periods} pseudo-periods by "
            f"a seeded hash of {encoding.key_column} (seed {encoding.seed}); {len(held)} of them "
            f"({share}) are held out. The split is NOT out of time."
        ),
    }


def _trained_model(
    settings: OwnTableSettings,
    prepared: PreparedTable,
    fit: UpliftFit,
    holdout: np.ndarray,
    evaluation: dict,
) -> TrainedModel:
    """The chosen learner as a registry version: ONNX file, held-out scores and SQL."""
    training, encoding = prepared.training, prepared.encoding
    outcome = training[prepared.rows.label].to_numpy()
    task = settings.task_name
    model_version = f"{task}-v{prepared.version_number}"
    task_dir = settings.model_dir.resolve() / task
    task_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = task_dir / f"{model_version}.onnx"
    onnx_path.write_bytes(fit.onnx_bytes)
    predictions_path = task_dir / f"{model_version}.predictions.parquet"
    keys = training.loc[holdout, [*encoding.key_columns, PERIOD_COLUMN]]
    pd.concat([keys, fit.holdout_scores], axis=1).to_parquet(predictions_path, index=False)
    periods = training[PERIOD_COLUMN]
    return TrainedModel(
        model_version=model_version,
        task=task,
        model_family=fit.chosen,
        trained_at=datetime.now(UTC),
        feature_columns=fit.feature_columns,
        training_snapshot_start=periods[~holdout].min().date(),
        training_snapshot_end=periods[~holdout].max().date(),
        validation_snapshot=periods[holdout].min().date(),
        training_rows=int((~holdout).sum()),
        training_positives=int(outcome[~holdout].sum()),
        validation_rows=int(holdout.sum()),
        validation_positives=int(outcome[holdout].sum()),
        metrics={"model": fit.metrics[fit.chosen], **fit.metrics},
        calibration=fit.calibration_label(),
        evaluation=evaluation,
        onnx_path=onnx_path,
        onnx_sha256=hashlib.sha256(fit.onnx_bytes).hexdigest(),
        predictions_path=predictions_path,
        scoring_sql=fit.select_sql(FEATURES_PLACEHOLDER, (*encoding.key_columns, PERIOD_COLUMN)),
        explanation_sql="",
        explanation_bias=float("nan"),
    )


def _write_audience(
    warehouse: Path, scores_table: str, economics: CampaignEconomics, keys: list[str]
) -> tuple[PersuadablesAudience, str]:
    """Size the persuadables audience on the SQL-scored rows and write it beside them."""
    target = scores_table.removesuffix("_scores") + "_persuadables"
    with duckdb.connect(str(warehouse)) as connection:
        scores = connection.execute(f"select * from {scores_table}").df()
        audience = persuadables_audience(scores, economics, key_columns=keys)
        connection.register("__propensity_audience", audience.rows)
        try:
            connection.execute(
                f"create or replace table {target} as select * from __propensity_audience "
                "order by audience_rank"
            )
        finally:
            connection.unregister("__propensity_audience")
    return audience, target


def train_uplift_table(
    settings: OwnTableSettings,
    *,
    economics: CampaignEconomics | None = None,
    holdout_share: float = 0.2,
    progress: Callable[[str], None] = _quiet,
) -> UpliftTableResult:
    """Read the experiment table, fit and compare the uplift learners, register the best,
    score the table in SQL (with a parity check), size the audience and write the report."""
    if settings.treatment is None:
        raise OwnTableError("an uplift table needs --treatment")
    if not 0 < holdout_share < 1:
        raise OwnTableError(f"--holdout-share must be between 0 and 1, not {holdout_share}")
    try:
        prepared = prepare_table(settings, progress)
    except EncodingError as error:
        raise OwnTableError(f"{settings.source.describe()}: {error}") from error
    training, encoding = prepared.training, prepared.encoding
    try:
        holdout = holdout_periods(training[PERIOD_COLUMN], holdout_share)
    except UpliftDataError as error:
        raise OwnTableError(f"{settings.source.describe()}: {error}") from error
    split = _split(prepared, holdout)
    progress(split["description"])
    started = time.perf_counter()
    try:
        fit = fit_uplift(
            training,
            encoding.feature_columns,
            prepared.rows.treatment,
            prepared.rows.label,
            holdout,
            seed=settings.seed,
            families=settings.families or UPLIFT_FAMILIES,
            groups=training[encoding.id_column].to_numpy() if encoding.id_column else None,
        )
    except UpliftDataError as error:
        raise OwnTableError(
            f"{settings.source.describe()} (treatment {prepared.rows.treatment}, outcome "
            f"{prepared.rows.label}): {error}"
        ) from error
    training_seconds = time.perf_counter() - started
    progress(f"fitted and compared {len(fit.metrics) - 1} scorers in {training_seconds:.1f}s")
    evaluation = {
        "objective": "uplift",
        "chosen": fit.chosen,
        "metrics": fit.metrics,
        "curves": {name: [list(point) for point in points] for name, points in fit.curves.items()},
        "treatment": prepared.rows.treatment,
        "outcome": prepared.rows.label,
        "economics": None if economics is None else economics.__dict__,
    } | fit.selection_figures()
    trained = _trained_model(settings, prepared, fit, holdout, evaluation)
    table = register_and_score(
        settings,
        prepared,
        trained,
        split,
        training_seconds=training_seconds,
        progress=progress,
    )
    audience = audience_table = None
    if economics is not None and table.scored is not None:
        audience, audience_table = _write_audience(
            settings.warehouse, table.scored.table, economics, list(encoding.key_columns)
        )
    report_path = Path(trained.onnx_path).with_suffix(".html")
    report_path.write_text(
        render_uplift_page(
            table.model.registry_row(),
            table.model.evaluation,
            audience=None if audience is None else audience.summary(),
        ),
        encoding="utf-8",
    )
    return UpliftTableResult(
        table=table,
        fit=fit,
        report_path=report_path,
        audience=audience,
        audience_table=audience_table,
    )


def describe_uplift_result(result: UpliftTableResult) -> list[str]:
    """What the terminal says when train-uplift-table is done."""
    model, fit = result.table.model, result.fit
    split = model.evaluation.get("split", {})
    kind = "out-of-time" if split.get("out_of_time") else "held-out (hash split, NOT out of time)"
    lines = [f"{model.model_version} ({fit.chosen}), {kind} on {model.validation_rows:,} rows:"]
    for name, figures in fit.metrics.items():
        qini = f"Qini {figures['qini']:+.5f} (normalised {figures['qini_normalised']:+.3f})"
        lines.append(
            f"  {name:46s} {qini} AUUC {figures['auuc']:+.5f} "
            f"uplift@10% {figures['uplift_at_10']:+.4f}"
        )
    calibration = fit.model.calibration
    lines.append(
        f"  chosen by out-of-fold Qini {fit.oof_qini[fit.chosen]:+.5f} on the training rows; "
        + (
            f"calibrated uplift = {calibration.intercept:+.5f} + {calibration.slope:.4f} x raw"
            if calibration.signal
            else f"NO out-of-fold signal: every row gets the average effect "
            f"{calibration.intercept:+.5f} (the ranking is not better than random)"
        )
    )
    lines.append(
        f"  ONNX {model.onnx_path}; scoring SQL (reads the raw table): {result.table.sql_path}"
    )
    if result.table.scored is not None:
        scored = result.table.scored
        lines.append(
            f"scored {scored.rows:,} rows' uplift into {scored.table} in {scored.seconds:.2f}s"
        )
    if result.table.parity is not None:
        lines.append(describe_parity(result.table.parity))
    if result.audience is not None:
        audience = result.audience
        lines.append(
            f"persuadables: {len(audience.rows):,} of {audience.candidates:,} customers "
            f"({audience.negative_uplift:,} with negative uplift left out), expected "
            f"incremental profit {audience.expected_incremental_profit:,.2f} from "
            f"{audience.expected_incremental_conversions:,.1f} incremental conversions -> "
            f"{result.audience_table}"
        )
    lines.append(f"report: {result.report_path}")
    return lines
