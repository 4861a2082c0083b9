"""The model registry: which version each task uses, and training a new one when asked."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from propensity.train import TrainingConfig, TrainingDataError, train_task
from propensity.train_uplift import train_uplift_task

LOGGER = logging.getLogger("propensity.registry")

REGISTRY_COLUMNS: dict[str, str] = {
    "model_version": "string",
    "task": "string",
    "model_family": "string",
    "trained_at": "datetime64[us]",
    "training_snapshot_start": "datetime64[us]",
    "training_snapshot_end": "datetime64[us]",
    "validation_snapshot": "datetime64[us]",
    "feature_columns": "string",
    "training_rows": "int64",
    "training_positives": "int64",
    "validation_rows": "int64",
    "validation_positives": "int64",
    "validation_roc_auc": "float64",
    "validation_pr_auc": "float64",
    "calibration": "string",
    "metrics_json": "string",
    "evaluation_json": "string",
    "onnx_path": "string",
    "onnx_sha256": "string",
    "predictions_path": "string",
    "scoring_sql": "string",
    "explanation_sql": "string",
    "explanation_bias": "float64",
}


@dataclass(frozen=True)
class TaskTrainingInput:
    """One task's labelled rows (a DuckDB relation) and the columns that define it."""

    task: str
    training_rows: duckdb.DuckDBPyRelation
    feature_columns: tuple[str, ...]
    label_column: str
    objective: str = "classification"
    key_columns: tuple[str, ...] = ("customer_id",)
    families: tuple[str, ...] = ()
    baselines: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # Training reads a deterministic hash sample of about this many rows when there are more.
    max_training_rows: int = 400_000
    feature_descriptions: Mapping[str, str] = field(default_factory=dict)
    label_window_days: int | None = None
    # An uplift task's treatment column (objective uplift).
    treatment_column: str | None = None


def empty_registry_frame() -> pd.DataFrame:
    """A registry frame with no rows and the registry's column types."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in REGISTRY_COLUMNS.items()})


def task_selection(setting: object) -> frozenset[str] | None:
    """The var train_tasks as dbt passes it (JSON text): null (every task) or a list."""
    value = json.loads(setting) if isinstance(setting, str) else setting
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(task, str) for task in value):
        return frozenset(value)
    raise ValueError(f"var train_tasks must be null or a list of task names, not {setting!r}")


def retrain_selection(setting: object) -> bool | frozenset[str]:
    """The var retrain as dbt passes it (JSON text): true or false, or a list of tasks."""
    value = json.loads(setting) if isinstance(setting, str) else setting
    if isinstance(value, bool):
        return value
    if isinstance(value, list) and all(isinstance(task, str) for task in value):
        return frozenset(value)
    raise ValueError(f"var retrain must be true, false or a list of task names, not {setting!r}")


def sample_training_rows(
    relation: duckdb.DuckDBPyRelation,
    max_rows: int,
    seed: int,
    key_columns: Sequence[str] = ("customer_id",),
) -> pd.DataFrame:
    """All labelled rows, or a deterministic hash sample of about max_rows of them."""
    total = relation.aggregate("count(*)").fetchall()[0][0]
    # A fixed row order: fits (and the bins HistGradientBoosting samples) must not depend on
    # the order a parallel scan returns rows in.
    order = ", ".join(["snapshot_date", *key_columns])
    if total <= max_rows:
        return relation.order(order).df()
    keep_per_million = int(1_000_000 * max_rows / total)
    hashed = ", ".join([*key_columns, "snapshot_date", str(int(seed))])
    condition = f"hash({hashed}) % 1000000 < {keep_per_million}"
    LOGGER.info("sampling about %s of %s training rows", max_rows, total)
    return relation.filter(condition).order(order).df()


def validation_summary(metrics: Mapping[str, object]) -> str:
    """A registered model's headline validation metric: PR-AUC, or a regression's RMSE and
    normalised Gini."""
    if metrics.get("pr_auc") is not None:
        return f"PR-AUC {metrics['pr_auc']:.4f}"
    if metrics.get("qini") is not None:
        return f"Qini {metrics['qini']:+.5f} on the held-out campaign"
    if metrics.get("rmse") is not None:
        gini = metrics.get("gini")
        return f"RMSE {metrics['rmse']:.2f}, Gini {'n/a' if gini is None else f'{gini:.4f}'}"
    return "metrics undefined"


def new_registry_rows(
    inputs: list[TaskTrainingInput],
    existing_versions: pd.DataFrame,
    *,
    retrain: bool | Collection[str],
    model_dir: Path,
    seed: int,
    backtest_folds: int = 4,
    calibration: str = "auto",
    train_tasks: Collection[str] | None = None,
) -> pd.DataFrame:
    """Train every task that has no registered model, and the tasks retrain names (all of
    them when it is True); when train_tasks is given, only the tasks it names."""
    rows = []
    for task_input in inputs:
        if train_tasks is not None and task_input.task not in train_tasks:
            LOGGER.info("%s: not in the var train_tasks, no training", task_input.task)
            continue
        task_versions = existing_versions[existing_versions["task"] == task_input.task]
        wanted = retrain if isinstance(retrain, bool) else task_input.task in retrain
        if len(task_versions) and not wanted:
            LOGGER.info("%s: using registered model, no training", task_input.task)
            continue
        frame = sample_training_rows(
            task_input.training_rows,
            task_input.max_training_rows,
            seed,
            task_input.key_columns,
        )
        config = TrainingConfig(
            task=task_input.task,
            feature_columns=task_input.feature_columns,
            label_column=task_input.label_column,
            objective=task_input.objective,
            key_columns=task_input.key_columns,
            families=task_input.families,
            model_dir=model_dir,
            seed=seed,
            backtest_folds=backtest_folds,
            calibration=calibration,
            baselines=task_input.baselines,
            feature_descriptions=task_input.feature_descriptions,
            label_window_days=task_input.label_window_days,
        )
        version_number = len(task_versions) + 1
        try:
            if task_input.objective == "uplift":
                trained = train_uplift_task(
                    frame, config, str(task_input.treatment_column), version_number
                )
            else:
                trained = train_task(frame, config, version_number=version_number)
        except TrainingDataError as error:
            LOGGER.warning("%s: not trained: %s", task_input.task, error)
            continue
        LOGGER.info(
            "%s: registered %s (%s, validation %s)",
            task_input.task,
            trained.model_version,
            trained.model_family,
            validation_summary(trained.metrics["model"]),
        )
        rows.append(trained.registry_row())
    if not rows:
        return empty_registry_frame()
    return pd.DataFrame(rows).astype(REGISTRY_COLUMNS)
