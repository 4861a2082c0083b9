"""Scoring a user's flat table in the warehouse with a version `propensity train-table`
registered: the stored SQL (the encoding over the raw table feeding the compiled model) runs in
DuckDB and writes <schema>.<task>_scores; onnxruntime on the Python-encoded rows checks it.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import onnxruntime
import pandas as pd

from propensity.onnx_sql import quote_identifier
from propensity.table_encoding import TableEncoding, sql_string
from propensity.table_source import TableSource
from propensity.train import FEATURES_PLACEHOLDER

REGISTRY_TABLE = "ml.model_registry"
TASK_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")  # task names name tables
PARITY_TOLERANCE = 1e-5


class OwnTableError(ValueError):
    """The table cannot be trained on or scored as asked."""


@dataclass(frozen=True)
class ScoredTable:
    """Scores written to the warehouse by the stored SQL."""

    table: str
    rows: int
    seconds: float


@dataclass(frozen=True)
class ParityCheck:
    """The stored SQL's scores against onnxruntime on the Python-encoded rows."""

    rows: int
    max_difference: float
    sql_seconds: float
    python_seconds: float

    @property
    def holds(self) -> bool:
        """Whether every row agrees within PARITY_TOLERANCE."""
        return self.max_difference <= PARITY_TOLERANCE


def has_registry(connection: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse has an ml.model_registry table."""
    return bool(
        connection.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'ml' and table_name = 'model_registry'"
        ).fetchall()[0][0]
    )


@dataclass(frozen=True)
class OwnTableVersion:
    """A registered own-table version: what the stored SQL needs to score a table."""

    model_version: str
    task: str
    scoring_sql: str
    onnx_path: Path
    encoding: TableEncoding
    source: TableSource


def load_version(connection: duckdb.DuckDBPyConnection, version: str) -> OwnTableVersion:
    """A version trained by train-table, from the registry."""
    if not has_registry(connection):
        raise OwnTableError(f"no {REGISTRY_TABLE} in this warehouse")
    row = connection.execute(
        f"select task, scoring_sql, onnx_path, evaluation_json from {REGISTRY_TABLE} "
        "where model_version = ?",
        [version],
    ).fetchone()
    if row is None:
        raise OwnTableError(f"no model version {version!r}")
    task, scoring_sql, onnx_path, evaluation = row
    own_table = json.loads(evaluation or "{}").get("own_table")
    if own_table is None:
        raise OwnTableError(f"{version} was not trained by train-table: dbt build scores it")
    return OwnTableVersion(
        model_version=version,
        task=task,
        scoring_sql=scoring_sql,
        onnx_path=Path(onnx_path),
        encoding=TableEncoding.from_dict(own_table["encoding"]),
        source=TableSource.from_dict(own_table["source"]),
    )


# --------------------------------------------------------------------------------------------
# Scoring in the warehouse
# --------------------------------------------------------------------------------------------


def scoring_query(version: OwnTableVersion, source: TableSource | None = None) -> str:
    """The stored SQL reading `source` (default: the table the version was trained on)."""
    relation = (source or version.source).relation_sql()
    return version.scoring_sql.replace(FEATURES_PLACEHOLDER, relation)


def _owned_by(connection: duckdb.DuckDBPyConnection, table: str, task: str) -> bool:
    """Whether a scores table is absent, or holds only scores of this task's train-table
    versions (so it may be replaced)."""
    schema, name = table.split(".")
    columns = connection.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    if not columns:
        return True
    if ("model_version",) not in columns:
        return False
    versions = connection.execute(f"select distinct model_version from {schema}.{name}").fetchall()
    try:
        return all(load_version(connection, version).task == task for (version,) in versions)
    except OwnTableError:
        return False


def score_own_table(
    connection: duckdb.DuckDBPyConnection,
    version: str,
    *,
    source: TableSource | None = None,
    schema: str = "ml",
    table: str | None = None,
) -> ScoredTable:
    """Run the stored SQL over the table in the warehouse; write <schema>.<task>_scores (the
    keys, score, model_version)."""
    stored = load_version(connection, version)
    target = table or f"{schema}.{stored.task}_scores"
    if target.count(".") != 1 or not all(TASK_PATTERN.fullmatch(p) for p in target.split(".")):
        raise OwnTableError(f"scores table {target!r}: want schema.name in lowercase")
    if not _owned_by(connection, target, stored.task):
        raise OwnTableError(
            f"{target} exists and holds scores not written for {stored.task} by train-table"
        )
    keys = ", ".join(quote_identifier(key) for key in stored.encoding.key_columns)
    started = time.perf_counter()
    connection.execute(f"create schema if not exists {target.split('.')[0]}")
    try:
        connection.execute(
            f"create or replace table {target} as select {keys}, score, "
            f"{sql_string(version)} as model_version "
            f"from ({scoring_query(stored, source)}) as scored"
        )
    except duckdb.Error as error:
        where = (source or stored.source).describe()
        raise OwnTableError(f"cannot score {where} with {version}: {error}") from error
    rows = connection.execute(f"select count(*) from {target}").fetchone()[0]
    return ScoredTable(table=target, rows=int(rows), seconds=time.perf_counter() - started)


def python_scores(
    connection: duckdb.DuckDBPyConnection,
    stored: OwnTableVersion,
    source: TableSource | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Keys and onnxruntime scores of the Python-encoded raw rows (the first `limit` by key)."""
    relation = (source or stored.source).relation_sql()
    encoding = stored.encoding
    order = ", ".join(quote_identifier(key) for key in encoding.key_columns)
    query = encoding.read_sql(relation) + f"\norder by {order}"
    if limit is not None:
        query += f" limit {int(limit)}"
    raw = connection.execute(query).df()
    matrix = encoding.encode(raw).to_numpy(dtype=np.float32)
    session = onnxruntime.InferenceSession(
        str(stored.onnx_path), providers=["CPUExecutionProvider"]
    )
    scores = onnx_scores(session, matrix)
    return raw[list(encoding.key_columns)].assign(score=scores.astype("float64"))


def onnx_scores(session: onnxruntime.InferenceSession, matrix: np.ndarray) -> np.ndarray:
    """The score onnxruntime gives each row: a one-output graph's value (an uplift model's
    uplift), else a classifier's positive-class probability (its second output)."""
    outputs = session.run(None, {session.get_inputs()[0].name: matrix})
    if len(outputs) == 1:
        return outputs[0][:, 0]
    return outputs[1][:, 1]


def check_parity(
    connection: duckdb.DuckDBPyConnection,
    version: str,
    *,
    source: TableSource | None = None,
    rows: int = 50_000,
) -> ParityCheck:
    """Compare the stored SQL's scores with onnxruntime on the Python-encoded rows (the first
    `rows` by key): the largest absolute difference."""
    stored = load_version(connection, version)
    keys = list(stored.encoding.key_columns)
    order = ", ".join(quote_identifier(key) for key in keys)
    started = time.perf_counter()
    expected = python_scores(connection, stored, source, limit=rows)
    python_seconds = time.perf_counter() - started
    started = time.perf_counter()
    actual = connection.execute(
        f"select {order}, score from ({scoring_query(stored, source)}) as scored "
        f"order by {order} limit {int(rows)}"
    ).df()
    sql_seconds = time.perf_counter() - started
    if not actual[keys].reset_index(drop=True).equals(expected[keys].reset_index(drop=True)):
        raise OwnTableError("the SQL and Python rows do not line up by key (duplicate ids?)")
    difference = np.abs(actual["score"].to_numpy(dtype=float) - expected["score"].to_numpy())
    return ParityCheck(
        rows=len(actual),
        max_difference=float(difference.max()) if len(difference) else 0.0,
        sql_seconds=sql_seconds,
        python_seconds=python_seconds,
    )


def score_table(
    warehouse: Path,
    version: str,
    *,
    source: TableSource | None = None,
    schema: str = "ml",
    table: str | None = None,
    parity_rows: int = 0,
) -> tuple[ScoredTable, ParityCheck | None]:
    """`propensity score-table`: score a table (default: the one trained on) with a version's
    stored SQL in the warehouse; optionally check parity with onnxruntime on some rows."""
    if not warehouse.exists():
        raise OwnTableError(f"no warehouse at {warehouse}")
    with duckdb.connect(str(warehouse)) as connection:
        scored = score_own_table(connection, version, source=source, schema=schema, table=table)
        parity = (
            check_parity(connection, version, source=source, rows=parity_rows)
            if parity_rows
            else None
        )
    return scored, parity


def describe_parity(parity: ParityCheck) -> str:
    """One line: how far the SQL scores are from onnxruntime's."""
    verdict = "ok" if parity.holds else f"FAILED (tolerance {PARITY_TOLERANCE})"
    return (
        f"parity: SQL vs onnxruntime on the Python-encoded rows, {parity.rows:,} rows, max "
        f"|difference| {parity.max_difference:.1e}: {verdict}"
    )
