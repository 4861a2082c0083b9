"""The model registry from the command line: list, compare, promote and roll back versions.

Promotions are an append-only log, ml.model_promotions, next to the registry. Scoring uses a
task's version pinned by the dbt var model_versions, else the last promoted one, else the
newest (macros/registered_model.sql); a promotion takes effect at the next build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

PROMOTIONS_TABLE = "ml.model_promotions"
COMPARED_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "lift_top_decile", "base_rate")
# A regression version's validation metrics (metrics_json has rmse instead of roc_auc).
REGRESSION_COMPARED_METRICS = (
    "rmse",
    "mae",
    "poisson_deviance",
    "r2",
    "calibration_ratio",
    "spearman",
    "gini",
    "revenue_share_top_10",
    "revenue_share_top_20",
)


class RegistryError(ValueError):
    """The registry cannot do what was asked."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered version as the CLI shows it."""

    model_version: str
    task: str
    model_family: str
    trained_at: datetime
    training_window: str
    validation_roc_auc: float | None
    validation_pr_auc: float | None
    training_rows: int
    onnx_sha256: str
    is_in_use: bool
    # The validation metrics in short: ROC-AUC and PR-AUC, or a regression's RMSE and Gini.
    metrics_text: str = ""


def is_regression_metrics(metrics: dict) -> bool:
    """Whether a version's validation metrics are a regression's (amounts, not probabilities)."""
    return "rmse" in metrics


def metrics_summary(metrics: dict) -> str:
    """One version's validation metrics in a few words, as `models list` prints them (an
    uplift version's: the held-out Qini, AUUC and uplift at 10%)."""

    def number(name: str, digits: int) -> str:
        value = metrics.get(name)
        return "n/a" if value is None else f"{value:.{digits}f}"

    if is_regression_metrics(metrics):
        return (
            f"RMSE {number('rmse', 2)}  Gini {number('gini', 4)}  "
            f"top-10% revenue {number('revenue_share_top_10', 4)}"
        )
    if "qini" in metrics:
        return (
            f"Qini {number('qini', 5)}  AUUC {number('auuc', 5)}  "
            f"uplift@10% {number('uplift_at_10', 4)} (held out)"
        )
    return f"ROC-AUC {number('roc_auc', 4)}  PR-AUC {number('pr_auc', 4)}"


def _has_ml_table(connection: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        connection.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'ml' and table_name = ?",
            [name],
        ).fetchall()[0][0]
    )


def connect_registry(warehouse: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, refusing one without a warehouse file or an ml.model_registry."""
    if not warehouse.exists():
        raise RegistryError(f"no warehouse at {warehouse}: run `make demo` or `dbt build` first")
    connection = duckdb.connect(str(warehouse), read_only=read_only)
    if not _has_ml_table(connection, "model_registry"):
        connection.close()
        raise RegistryError(f"{warehouse} has no ml.model_registry: run `dbt build` first")
    return connection


def _versions_of(connection: duckdb.DuckDBPyConnection, task: str) -> list[str]:
    """A task's versions, newest first."""
    rows = connection.execute(
        "select model_version from ml.model_registry where task = ? "
        "order by trained_at desc, model_version desc",
        [task],
    ).fetchall()
    return [row[0] for row in rows]


def _promotion_history(connection: duckdb.DuckDBPyConnection, task: str) -> list[str]:
    """The versions promoted for a task, most recent first."""
    if not _has_ml_table(connection, "model_promotions"):
        return []
    rows = connection.execute(
        f"select model_version from {PROMOTIONS_TABLE} where task = ? "
        "order by acted_at desc, promotion_id desc",
        [task],
    ).fetchall()
    return [row[0] for row in rows]


def version_in_use(connection: duckdb.DuckDBPyConnection, task: str) -> str | None:
    """The version the next build scores with (unless the dbt var model_versions pins one)."""
    history = _promotion_history(connection, task)
    if history:
        return history[0]
    versions = _versions_of(connection, task)
    return versions[0] if versions else None


def list_versions(warehouse: Path, task: str | None = None) -> list[ModelVersion]:
    """Every registered version (of one task, or all), oldest first."""
    with connect_registry(warehouse, read_only=True) as connection:
        rows = connection.execute(
            "select model_version, task, model_family, trained_at, training_snapshot_start, "
            "training_snapshot_end, validation_snapshot, validation_roc_auc, "
            "validation_pr_auc, training_rows, onnx_sha256, metrics_json from ml.model_registry "
            "where ? is null or task = ? order by task, trained_at, model_version",
            [task, task],
        ).fetchall()
        in_use = {task: version_in_use(connection, task) for task in {row[1] for row in rows}}
    return [
        ModelVersion(
            model_version=version,
            task=row_task,
            model_family=family,
            trained_at=trained_at,
            training_window=f"{start:%Y-%m-%d}..{end:%Y-%m-%d}, validated {validation:%Y-%m-%d}",
            validation_roc_auc=roc_auc,
            validation_pr_auc=pr_auc,
            training_rows=training_rows,
            onnx_sha256=sha256,
            is_in_use=in_use[row_task] == version,
            metrics_text=metrics_summary(json.loads(metrics_json or "{}").get("model", {})),
        )
        for (
            version,
            row_task,
            family,
            trained_at,
            start,
            end,
            validation,
            roc_auc,
            pr_auc,
            training_rows,
            sha256,
            metrics_json,
        ) in rows
    ]


def _registry_row(connection: duckdb.DuckDBPyConnection, version: str) -> tuple:
    rows = connection.execute(
        "select task, model_family, metrics_json, feature_columns, training_rows, "
        "training_snapshot_start, training_snapshot_end "
        "from ml.model_registry where model_version = ?",
        [version],
    ).fetchall()
    if not rows:
        known = [
            row[0]
            for row in connection.execute(
                "select model_version from ml.model_registry order by 1"
            ).fetchall()
        ]
        raise RegistryError(f"no model version {version!r}; registered: {', '.join(known)}")
    return rows[0]


def compare_versions(warehouse: Path, first: str, second: str) -> str:
    """A side-by-side table of two versions' validation metrics, window and features."""
    with connect_registry(warehouse, read_only=True) as connection:
        rows = [_registry_row(connection, version) for version in (first, second)]
    metrics = [json.loads(row[2])["model"] for row in rows]
    features = [json.loads(row[3]) for row in rows]
    width = max(len(first), len(second), 12)
    names = (
        REGRESSION_COMPARED_METRICS
        if all(is_regression_metrics(m) for m in metrics)
        else COMPARED_METRICS
    )
    label = max(22, *(len(f"validation {name}") for name in names))
    lines = [f"{'':<{label}} {first:>{width}} {second:>{width}} {'difference':>12}"]
    lines.append(f"{'task':<{label}} {rows[0][0]:>{width}} {rows[1][0]:>{width}}")
    lines.append(f"{'model family':<{label}} {rows[0][1]:>{width}} {rows[1][1]:>{width}}")
    for name in names:
        a, b = metrics[0].get(name), metrics[1].get(name)
        if a is None or b is None:
            shown = [f"{'n/a' if v is None else f'{v:.4f}':>{width}}" for v in (a, b)]
            lines.append(f"{'validation ' + name:<{label}} {shown[0]} {shown[1]}")
            continue
        lines.append(
            f"{'validation ' + name:<{label}} {a:>{width}.4f} {b:>{width}.4f} {b - a:>+12.4f}"
        )
    lines.append(f"{'training rows':<{label}} {rows[0][4]:>{width},} {rows[1][4]:>{width},}")
    windows = [f"{row[5]:%Y-%m}..{row[6]:%Y-%m}" for row in rows]
    lines.append(f"{'training window':<{label}} {windows[0]:>{width}} {windows[1]:>{width}}")
    only_first = sorted(set(features[0]) - set(features[1]))
    only_second = sorted(set(features[1]) - set(features[0]))
    lines.append(f"features only in {first}: {', '.join(only_first) or 'none'}")
    lines.append(f"features only in {second}: {', '.join(only_second) or 'none'}")
    return "\n".join(lines)


def _record_promotion(
    connection: duckdb.DuckDBPyConnection, task: str, version: str, action: str
) -> None:
    connection.execute(
        f"create table if not exists {PROMOTIONS_TABLE} ("
        "promotion_id bigint, task varchar, model_version varchar, action varchar, "
        "acted_at timestamp)"
    )
    connection.execute(
        f"insert into {PROMOTIONS_TABLE} "
        f"select coalesce(max(promotion_id), 0) + 1, ?, ?, ?, now()::timestamp "
        f"from {PROMOTIONS_TABLE}",
        [task, version, action],
    )


def promote(warehouse: Path, version: str) -> str:
    """Put a registered version in use for its task; returns the task."""
    with connect_registry(warehouse, read_only=False) as connection:
        task = _registry_row(connection, version)[0]
        _record_promotion(connection, task, version, "promote")
    return task


def rollback(warehouse: Path, task: str) -> str:
    """Go back to the version in use before the current one; returns that version."""
    with connect_registry(warehouse, read_only=False) as connection:
        versions = _versions_of(connection, task)
        if not versions:
            raise RegistryError(f"task {task!r} has no registered model")
        current = version_in_use(connection, task)
        history = _promotion_history(connection, task)
        # Before any promotion the newest version is in use; the one before it is older.
        earlier = [version for version in [*history, *versions] if version != current]
        if not earlier:
            raise RegistryError(f"{task}: {current} is the only version; nothing to roll back to")
        previous = earlier[0]
        _record_promotion(connection, task, previous, "rollback")
    return previous
