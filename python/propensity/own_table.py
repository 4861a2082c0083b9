"""Bring your own features: train, evaluate, register and score a propensity model on any flat
table (a DuckDB table, Parquet or CSV), given its label column.

The engine is the project's own: `train.train_task` runs the rolling-origin backtest, the
baselines, calibration and the evaluation, and exports and compiles the ONNX model. This
module reads the table, decides each column's encoding (`table_encoding`), gives every row a
period (its time truncated to a day, week, month or quarter; without a time column, one of K
pseudo-periods from a seeded hash of its id, which makes the backtest a seeded K-fold-like
split that is not out of time), registers the version in the warehouse's
`ml.model_registry` and scores the table there (`table_scoring`) with the stored SQL: the
encoding SQL over the raw table feeding the compiled model.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from propensity.onnx_sql import quote_identifier
from propensity.registry import REGISTRY_COLUMNS
from propensity.table_encoding import (
    PERIOD_COLUMN,
    PERIODS,
    PSEUDO_PERIOD_ORIGIN,
    ROW_NUMBER_COLUMN,
    Candidate,
    TableEncoding,
    binary_label,
    plan_columns,
    sql_string,
    type_class,
    zero_one,
)
from propensity.table_scoring import (
    REGISTRY_TABLE,
    TASK_PATTERN,
    OwnTableError,
    ParityCheck,
    ScoredTable,
    check_parity,
    describe_parity,
    has_registry,
    score_own_table,
)
from propensity.table_source import TableSource
from propensity.train import (
    FEATURES_PLACEHOLDER,
    TrainedModel,
    TrainingConfig,
    TrainingDataError,
    train_task,
)

SQL_TYPES = {"string": "varchar", "datetime64[us]": "timestamp", "int64": "bigint"}


def _quiet(_: str) -> None:
    """A progress callback that says nothing."""


@dataclass(frozen=True)
class OwnTableSettings:
    """What `propensity train-table` was asked to do."""

    source: TableSource
    label: str
    warehouse: Path
    model_dir: Path
    task: str | None = None
    # train-uplift-table: the 0/1 treatment column of a randomised experiment (label = outcome).
    treatment: str | None = None
    id_column: str | None = None
    time_column: str | None = None
    period: str = "month"
    pseudo_periods: int = 5
    exclude: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    positive: str | None = None
    baselines: Mapping[str, Sequence[str]] = field(default_factory=dict)
    families: tuple[str, ...] = ()
    folds: int = 4
    calibration: str = "auto"
    seed: int = 20261125
    min_category_rows: int = 25
    max_categories: int = 20
    max_training_rows: int = 400_000
    scores_schema: str = "ml"
    score: bool = True

    @property
    def task_name(self) -> str:
        """The task (the model's name in the registry): given, or the input's name."""
        return self.task or self.source.default_task()


@dataclass(frozen=True)
class OwnTableResult:
    """A trained, registered (and scored) own-table model."""

    model: TrainedModel
    encoding: TableEncoding
    warehouse: Path
    training_seconds: float
    sql_path: Path
    scored: ScoredTable | None = None
    parity: ParityCheck | None = None


# --------------------------------------------------------------------------------------------
# Reading the table
# --------------------------------------------------------------------------------------------


def _columns(connection: duckdb.DuckDBPyConnection, source: TableSource) -> dict[str, str]:
    """The source's columns and DuckDB type ids, in order."""
    try:
        relation = connection.sql(f"select * from {source.relation_sql()} limit 0")
    except duckdb.Error as error:
        raise OwnTableError(f"cannot read {source.describe()}: {error}") from error
    return {name: str(kind.id) for name, kind in zip(relation.columns, relation.types, strict=True)}


def _named(columns: Mapping[str, str], name: str, option: str) -> str:
    """A column named on the command line, as the table spells it (DuckDB ignores case)."""
    if name in columns:
        return name
    matches = [column for column in columns if column.lower() == name.lower()]
    if len(matches) == 1:
        return matches[0]
    raise OwnTableError(f"{option} {name!r} is not a column; columns: {', '.join(columns)}")


def _reading_connection(settings: OwnTableSettings) -> duckdb.DuckDBPyConnection:
    """A connection that can read the source: the warehouse for a table, else in memory."""
    if settings.source.kind != "table":
        return duckdb.connect()
    if not settings.warehouse.exists():
        raise OwnTableError(f"no warehouse at {settings.warehouse} to read the table from")
    return duckdb.connect(str(settings.warehouse), read_only=True)


def _candidates(
    columns: Mapping[str, str], roles: Sequence[str], settings: OwnTableSettings
) -> list[Candidate]:
    excluded = {_named(columns, name, "--exclude") for name in settings.exclude}
    categorical = {_named(columns, name, "--categorical") for name in settings.categorical}
    candidates = []
    for column, type_id in columns.items():
        if column in roles:
            continue
        kind = type_class(type_id)
        if column in excluded:
            kind = "excluded"
        elif column in categorical:
            if kind not in ("numeric", "boolean", "text"):
                raise OwnTableError(f"--categorical {column!r}: a {type_id} column cannot be one")
            kind = "categorical"
        elif kind == "text":
            kind = "categorical"
        candidates.append(Candidate(column, type_id, kind))
    return candidates


def _sample_condition(key: str, seed: int, keep: int, total: int) -> str:
    """A seeded hash filter keeping about `keep` of `total` rows."""
    if total <= keep:
        return "true"
    threshold = int(16**8 * keep / total)
    digest = f"md5(cast({quote_identifier(key)} as varchar) || {sql_string(f':sample:{seed}')})"
    return f"cast(('0x' || substr({digest}, 1, 8)) as bigint) < {threshold}"


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def _split_description(
    encoding: TableEncoding, periods: Sequence[pd.Timestamp], folds: int
) -> dict:
    """How rows were split for the backtest, in words, for the registry and the report."""
    if encoding.time_column is not None:
        first, last = min(periods), max(periods)
        return {
            "kind": "time",
            "out_of_time": True,
            "period": encoding.period,
            "periods": len(periods),
            "description": (
                f"Rows are grouped into {len(periods)} {encoding.period} periods of "
                f"{encoding.time_column} ({first:%Y-%m-%d} to {last:%Y-%m-%d}); each of the "
                f"newest {folds} periods is tested by models fitted on every earlier period: "
                "out of time."
            ),
        }
    last_date = PSEUDO_PERIOD_ORIGIN + pd.Timedelta(days=encoding.pseudo_periods - 1)
    return {
        "kind": "hash",
        "out_of_time": False,
        "pseudo_periods": encoding.pseudo_periods,
        "description": (
            f"No time column: rows are assigned to {encoding.pseudo_periods} pseudo-periods by "
            f"a seeded hash of {encoding.key_column} (seed {encoding.seed}; shown as the dates "
            f"{PSEUDO_PERIOD_ORIGIN:%Y-%m-%d} to {last_date:%Y-%m-%d}), so the backtest is a "
            f"seeded K-fold-like split with {folds} folds. The split is NOT out of time: where "
            "this report says out-of-time, read held-out; expect the model to do worse on "
            "later data than these figures say."
        ),
    }


def _check_task(connection: duckdb.DuckDBPyConnection | None, task: str) -> int:
    """The next version number of a task, refusing a task that dbt trains."""
    if not TASK_PATTERN.fullmatch(task):
        raise OwnTableError(
            f"task {task!r}: use lowercase letters, digits and underscores (it names tables)"
        )
    if connection is None or not has_registry(connection):
        return 1
    rows = connection.execute(
        f"select model_version, evaluation_json from {REGISTRY_TABLE} where task = ?", [task]
    ).fetchall()
    numbers = []
    for version, evaluation in rows:
        if "own_table" not in json.loads(evaluation or "{}"):
            raise OwnTableError(
                f"task {task!r} is trained by dbt in this warehouse ({version}); "
                "name another with --task"
            )
        match = re.fullmatch(rf"{re.escape(task)}-v(\d+)", version)
        numbers.append(int(match.group(1)) if match else 0)
    return max([*numbers, len(rows)], default=0) + 1


def _baselines(
    baselines: Mapping[str, Sequence[str]], features: Sequence[str]
) -> dict[str, list[str]]:
    """Rank-rule baselines, refusing columns that are not features."""
    known = set(features)
    for name, columns in baselines.items():
        unknown = [column for column in columns if column.lstrip("-") not in known]
        if not columns or unknown:
            raise OwnTableError(
                f"baseline {name!r}: {', '.join(unknown) or 'no columns'} not among the "
                f"features ({', '.join(features)})"
            )
    return {name: list(columns) for name, columns in baselines.items()}


@dataclass(frozen=True)
class _LabelledRows:
    """The table's columns and roles, and its usable labelled rows as read for Python."""

    columns: dict[str, str]  # column -> DuckDB type id
    label: str
    treatment: str | None
    candidates: tuple[Candidate, ...]
    reading: TableEncoding  # the roles, with provisional plans that only read the inputs
    frame: pd.DataFrame
    total_rows: int
    labelled_rows: int


def _read_labelled_rows(settings: OwnTableSettings) -> _LabelledRows:
    """Check the roles the command names and read the rows with a label (and a time)."""
    source = settings.source
    with _reading_connection(settings) as connection:
        columns = _columns(connection, source)
        label = _named(columns, settings.label, label_option(settings))
        id_column = _named(columns, settings.id_column, "--id") if settings.id_column else None
        time_column = (
            _named(columns, settings.time_column, "--time") if settings.time_column else None
        )
        treatment = (
            _named(columns, settings.treatment, "--treatment") if settings.treatment else None
        )
        roles = [column for column in (label, treatment, id_column, time_column) if column]
        if len(set(roles)) < len(roles):
            raise OwnTableError(
                f"{label_option(settings)}, --treatment, --id and --time must name different "
                "columns"
            )
        if time_column and type_class(columns[time_column]) != "datetime":
            raise OwnTableError(
                f"--time {time_column!r} is {columns[time_column]}, not a date or timestamp"
            )
        if id_column is None and ROW_NUMBER_COLUMN in {c.lower() for c in columns}:
            raise OwnTableError(
                f"the table has a column {ROW_NUMBER_COLUMN!r}: name the id with --id"
            )
        candidates = tuple(_candidates(columns, roles, settings))
        reading = TableEncoding(
            id_column=id_column,
            time_column=time_column,
            period=settings.period if time_column else "pseudo",
            pseudo_periods=settings.pseudo_periods,
            seed=settings.seed,
            columns=tuple(candidate.read_plan() for candidate in candidates),
        )
        relation = source.relation_sql()
        usable = " and ".join(
            f"{quote_identifier(column)} is not null" for column in roles if column != id_column
        )
        total, labelled = connection.execute(
            f"select count(*), count(*) filter (where {usable}) "
            f"from {reading.rows_sql(relation)} as __propensity_raw"
        ).fetchone()
        sample = _sample_condition(
            reading.key_column, settings.seed, settings.max_training_rows, labelled
        )
        order = ", ".join(quote_identifier(c) for c in (PERIOD_COLUMN, *reading.key_columns))
        extra = [quote_identifier(column) for column in (label, treatment) if column]
        frame = connection.execute(
            reading.read_sql(relation, extra=extra, where=f"{usable} and {sample}")
            + f"\norder by {order}"
        ).df()
    return _LabelledRows(
        columns, label, treatment, candidates, reading, frame, int(total), int(labelled)
    )


def label_option(settings: OwnTableSettings) -> str:
    """The option naming the label: --outcome for an uplift table, else --label."""
    return "--outcome" if settings.treatment else "--label"


def _training_frame(
    rows: _LabelledRows, settings: OwnTableSettings, progress: Callable[[str], None]
) -> tuple[TableEncoding, pd.DataFrame, object]:
    """Decide the encoding (printing every decision) and build the rows train_task fits:
    keys, period, the 0/1 label and the features. Returns the encoding, the rows and the
    label's positive value."""
    label, frame, reading = rows.label, rows.frame, rows.reading
    time_column = reading.time_column
    progress(
        f"{rows.total_rows:,} rows; {rows.labelled_rows:,} with a label"
        + (f" and a time ({time_column})" if time_column else "")
        + f" ({rows.total_rows - rows.labelled_rows:,} left out of training, still scored)"
        + (f"; a seeded sample of {len(frame):,} trains" if len(frame) < rows.labelled_rows else "")
    )
    label_kind = type_class(rows.columns[label])
    roles: dict[str, np.ndarray] = {}
    if rows.treatment is None:
        roles[label], positive = binary_label(frame[label], label, label_kind, settings.positive)
        progress(
            f"label {label} ({rows.columns[label]}): positive = {positive!r}; "
            f"base rate {roles[label].mean():.2%}"
        )
    else:
        keys = frame[reading.key_column]
        treatment = rows.treatment
        treatment_kind = type_class(rows.columns[treatment])
        roles[label] = zero_one(frame[label], label, label_kind, keys)
        roles[treatment] = zero_one(frame[treatment], treatment, treatment_kind, keys)
        positive = 1
        progress(
            f"outcome {label}, treatment {treatment}: {int(roles[treatment].sum()):,} treated "
            f"rows ({roles[treatment].mean():.1%}), {int((1 - roles[treatment]).sum()):,} control"
        )
    plans = plan_columns(
        frame,
        rows.candidates,
        time_column=time_column,
        reserved=[*roles, *reading.key_columns, PERIOD_COLUMN],
        min_category_rows=settings.min_category_rows,
        max_categories=settings.max_categories,
    )
    encoding = replace(reading, columns=plans)
    progress(
        f"id: {reading.id_column or f'the row number in the input order ({ROW_NUMBER_COLUMN})'}"
    )
    for line in encoding.describe():
        progress(f"  {line}")
    if not encoding.feature_columns:
        raise OwnTableError("no column is left to learn from")
    progress(
        f"{len(encoding.feature_columns)} features from "
        f"{sum(bool(plan.features) for plan in plans)} columns"
    )
    training = pd.concat(
        [
            frame[[*encoding.key_columns, PERIOD_COLUMN]],
            pd.DataFrame(roles, index=frame.index),
            encoding.encode(frame),
        ],
        axis=1,
    )
    training[PERIOD_COLUMN] = pd.to_datetime(training[PERIOD_COLUMN])
    return encoding, training, positive


@dataclass(frozen=True)
class PreparedTable:
    """A table read and encoded for training: its rows, encoding, periods and next version."""

    rows: _LabelledRows
    version_number: int
    encoding: TableEncoding
    training: pd.DataFrame  # keys, period, the label (and treatment) and the features
    positive: object
    periods: list[pd.Timestamp]


def prepare_table(
    settings: OwnTableSettings, progress: Callable[[str], None] = _quiet
) -> PreparedTable:
    """Check the settings, read the labelled rows, decide the encoding and build the rows a
    model fits (train-table and train-uplift-table both start here)."""
    if settings.period not in PERIODS:
        raise OwnTableError(f"--period must be one of {', '.join(PERIODS)}")
    if settings.pseudo_periods < 3:
        raise OwnTableError("--pseudo-periods must be at least 3")
    progress(f"reading {settings.source.describe()}")
    rows = _read_labelled_rows(settings)
    version_number = _next_version_number(settings.warehouse, settings.task_name)
    encoding, training, positive = _training_frame(rows, settings, progress)
    periods = sorted(pd.Timestamp(period) for period in training[PERIOD_COLUMN].unique())
    return PreparedTable(rows, version_number, encoding, training, positive, periods)


def train_own_table(
    settings: OwnTableSettings, progress: Callable[[str], None] = _quiet
) -> OwnTableResult:
    """Read the table, encode it, backtest and register a model, and score the table."""
    task = settings.task_name
    prepared = prepare_table(settings, progress)
    rows, encoding, training = prepared.rows, prepared.encoding, prepared.training
    version_number = prepared.version_number
    folds = min(settings.folds, len(prepared.periods) - 1)
    split = _split_description(encoding, prepared.periods, folds)
    progress(split["description"])
    config = TrainingConfig(
        task=task,
        feature_columns=encoding.feature_columns,
        label_column=rows.label,
        model_dir=settings.model_dir,
        seed=settings.seed,
        snapshot_column=PERIOD_COLUMN,
        key_columns=encoding.key_columns,
        families=settings.families,
        backtest_folds=settings.folds,
        calibration=settings.calibration,
        baselines=_baselines(settings.baselines, encoding.feature_columns),
        feature_descriptions=encoding.feature_descriptions(),
    )
    started = time.perf_counter()
    progress(f"training {task}-v{version_number}: backtest over {folds} folds")
    try:
        trained = train_task(training, config, version_number)
    except TrainingDataError as error:
        raise OwnTableError(str(error)) from error
    training_seconds = time.perf_counter() - started
    return register_and_score(
        settings, prepared, trained, split, training_seconds=training_seconds, progress=progress
    )


def own_table_record(prepared: PreparedTable, settings: OwnTableSettings, split: dict) -> dict:
    """What the registry keeps of the table: source, label, encoding, row counts and split."""
    rows = prepared.rows
    record = {
        "source": settings.source.to_dict(),
        "label": {
            "column": rows.label,
            "type": rows.columns[rows.label],
            "positive": prepared.positive,
        },
        "encoding": prepared.encoding.to_dict(),
        "rows": {
            "total": rows.total_rows,
            "labelled": rows.labelled_rows,
            "trained_on": len(prepared.training),
        },
        "split": split,
    }
    if rows.treatment is not None:
        record["treatment"] = {"column": rows.treatment, "type": rows.columns[rows.treatment]}
    return record


def register_and_score(
    settings: OwnTableSettings,
    prepared: PreparedTable,
    trained: TrainedModel,
    split: dict,
    *,
    training_seconds: float,
    progress: Callable[[str], None] = _quiet,
) -> OwnTableResult:
    """Point the model's SQL at the raw table, store the table's record beside the ONNX file,
    register the version and (unless told not to) score the table with a parity check."""
    own_table = own_table_record(prepared, settings, split)
    trained = _with_raw_table_sql(
        trained, prepared.encoding, {**trained.evaluation, "split": split, "own_table": own_table}
    )
    task_dir = Path(trained.onnx_path).parent
    (task_dir / f"{trained.model_version}.table.json").write_text(
        json.dumps(own_table, indent=2, sort_keys=True, default=str), encoding="utf-8"
    )
    sql_path = task_dir / f"{trained.model_version}.sql"
    sql_path.write_text(
        trained.scoring_sql.replace(FEATURES_PLACEHOLDER, settings.source.relation_sql()) + "\n",
        encoding="utf-8",
    )

    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse)) as connection:
        if _check_task(connection, trained.task) != prepared.version_number:
            raise OwnTableError(f"{trained.model_version} was registered meanwhile: run again")
        register(connection, trained)
        progress(f"registered {trained.model_version} in {settings.warehouse} {REGISTRY_TABLE}")
        scored = parity = None
        if settings.score:
            scored = score_own_table(
                connection, trained.model_version, schema=settings.scores_schema
            )
            parity = check_parity(connection, trained.model_version)
    return OwnTableResult(
        model=trained,
        encoding=prepared.encoding,
        warehouse=settings.warehouse,
        training_seconds=training_seconds,
        sql_path=sql_path,
        scored=scored,
        parity=parity,
    )


def _next_version_number(warehouse: Path, task: str) -> int:
    """The task's next version number in the warehouse (1 when it has no registry yet)."""
    if not warehouse.exists():
        return _check_task(None, task)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return _check_task(connection, task)


def _with_raw_table_sql(
    trained: TrainedModel, encoding: TableEncoding, evaluation: dict
) -> TrainedModel:
    """The model with its scoring and explanation SQL reading the raw table: the placeholder
    now stands for the user's table, and the encoding SQL feeds the compiled model."""
    encoded = f"({encoding.select_sql(FEATURES_PLACEHOLDER)})"
    # An uplift model has no explanation SQL (empty).
    for sql in (trained.scoring_sql, trained.explanation_sql or FEATURES_PLACEHOLDER):
        if sql.count(FEATURES_PLACEHOLDER) != 1:
            raise OwnTableError("the compiled SQL does not read its features exactly once")
    return replace(
        trained,
        scoring_sql=trained.scoring_sql.replace(FEATURES_PLACEHOLDER, encoded),
        explanation_sql=trained.explanation_sql.replace(FEATURES_PLACEHOLDER, encoded),
        evaluation=evaluation,
    )


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------


def register(connection: duckdb.DuckDBPyConnection, trained: TrainedModel) -> None:
    """Append the version to ml.model_registry (created with the registry's columns if the
    warehouse has none)."""
    connection.execute("create schema if not exists ml")
    if not has_registry(connection):
        columns = ", ".join(
            f"{name} {SQL_TYPES.get(dtype, 'double')}" for name, dtype in REGISTRY_COLUMNS.items()
        )
        connection.execute(f"create table {REGISTRY_TABLE} ({columns})")
    row = pd.DataFrame([trained.registry_row()]).astype(REGISTRY_COLUMNS)
    connection.register("__propensity_new_version", row)
    try:
        connection.execute(
            f"insert into {REGISTRY_TABLE} by name select * from __propensity_new_version"
        )
    finally:
        connection.unregister("__propensity_new_version")


def describe_result(result: OwnTableResult) -> list[str]:
    """What the terminal says when train-table is done."""
    model = result.model
    evaluation = model.evaluation
    overall = evaluation["overall"]
    chosen = overall[evaluation["chosen"]]
    split = evaluation.get("split", {})
    kind = "out-of-time" if split.get("out_of_time") else "held-out (hash split, NOT out of time)"
    lines = [
        f"{model.model_version} ({model.model_family}, calibration {model.calibration}): pooled "
        f"{kind} PR-AUC {chosen['pr_auc']:.4f}, ROC-AUC {chosen['roc_auc']:.4f} on "
        f"{chosen['rows']:,} rows (base rate {chosen['base_rate']:.2%}); on the validation "
        f"period PR-AUC {model.metrics['model']['pr_auc']:.4f}",
    ]
    for name in evaluation["baselines"]:
        lines.append(f"  baseline {name}: pooled PR-AUC {overall[name]['pr_auc']:.4f}")
    lines.append(f"  trained in {result.training_seconds:.1f}s; ONNX {model.onnx_path}")
    lines.append(f"  scoring SQL (reads the raw table): {result.sql_path}")
    if result.scored is not None:
        lines.append(
            f"scored {result.scored.rows:,} rows into {result.scored.table} of "
            f"{result.warehouse} in {result.scored.seconds:.2f}s (SQL in DuckDB)"
        )
    if result.parity is not None:
        lines.append(describe_parity(result.parity))
    lines.append(
        f"report: propensity report --warehouse {result.warehouse} --version {model.model_version}"
    )
    return lines
