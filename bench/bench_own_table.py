"""Benchmark `propensity train-table` on a generated flat table: training time, scoring the whole
table in SQL vs onnxruntime on the Python-encoded rows, and parity on every row.

    python bench/bench_own_table.py --rows 200000 --workdir /tmp/propensity-own-table

The table has 30 input columns besides the id and the time: 18 numbers (up to 15% NaN),
5 text columns of 3 to 400 values (Zipf-like, 3% NULL), 3 nullable booleans and 2 timestamps,
and a label planted on some of them. Exit status 1 when SQL and onnxruntime differ by more
than 1e-5 on any row.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import onnxruntime
import pandas as pd

from propensity.own_table import OwnTableSettings, describe_result, train_own_table
from propensity.table_scoring import PARITY_TOLERANCE, load_version, scoring_query
from propensity.table_source import TableSource


def flat_table(rows: int, seed: int) -> pd.DataFrame:
    """The benchmark table: a planted signal in numbers, categories, a flag and a date."""
    rng = np.random.default_rng(seed)
    observed_at = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        rng.integers(0, 365 * 24 * 60, rows), unit="min"
    )
    columns: dict[str, object] = {
        "account_id": np.arange(rows) * 7 + 13,
        "observed_at": observed_at,
    }
    logit = np.full(rows, -2.0)
    for j in range(18):
        values = rng.normal(size=rows)
        if j < 8:
            logit += (0.5 / (j + 1)) * values
        values[rng.random(rows) < 0.05 * (j % 4)] = np.nan
        columns[f"metric_{j:02d}"] = values
    for j, cardinality in enumerate([3, 8, 25, 60, 400]):
        names = np.array([f"v{j}_{i}" for i in range(cardinality)], dtype=object)
        weights = 1 / np.arange(1, cardinality + 1)
        index = rng.choice(cardinality, rows, p=weights / weights.sum())
        text = names[index]
        text[rng.random(rows) < 0.03] = None
        logit += 0.4 * (index == 0) - 0.3 * (index == 1)
        columns[f"segment_{j}"] = text
    for j in range(3):
        flags = rng.random(rows) < 0.3
        if j == 0:
            logit += 0.5 * flags
        nullable = pd.array(flags, dtype="boolean")
        nullable[rng.random(rows) < 0.02] = pd.NA
        columns[f"has_flag_{j}"] = nullable
    days = rng.exponential(60, rows)
    columns["last_seen_date"] = (observed_at - pd.to_timedelta(days, unit="D")).normalize()
    logit -= 0.01 * days
    columns["created_at"] = observed_at - pd.to_timedelta(rng.exponential(400, rows), unit="D")
    columns["responded"] = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(columns)


def compare_scoring(warehouse: Path, version: str) -> float:
    """Score every row in SQL and with onnxruntime; print the times; the max difference."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        stored = load_version(connection, version)
        encoding = stored.encoding
        keys = ", ".join(f'"{key}"' for key in encoding.key_columns)
        started = time.perf_counter()
        connection.execute(f"create temp table scored as {scoring_query(stored)}")
        sql_seconds = time.perf_counter() - started
        sql = connection.execute(f"select {keys}, score from scored order by {keys}").df()
        started = time.perf_counter()
        raw = connection.execute(
            f"{encoding.read_sql(stored.source.relation_sql())} order by {keys}"
        ).df()
        read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    matrix = encoding.encode(raw).to_numpy(dtype=np.float32)
    encode_seconds = time.perf_counter() - started
    started = time.perf_counter()
    session = onnxruntime.InferenceSession(
        str(stored.onnx_path), providers=["CPUExecutionProvider"]
    )
    probabilities = session.run(None, {session.get_inputs()[0].name: matrix})[1][:, 1]
    onnx_seconds = time.perf_counter() - started
    key = encoding.key_columns[0]
    if not (sql[key].to_numpy() == raw[key].to_numpy()).all():
        raise RuntimeError("SQL and Python rows do not line up")
    difference = float(np.abs(sql["score"].to_numpy() - probabilities).max())
    print(
        f"{version}: {len(sql):,} rows x {matrix.shape[1]} features; SQL from the raw file "
        f"{sql_seconds:.2f}s; Python read {read_seconds:.2f}s + encode {encode_seconds:.2f}s + "
        f"onnxruntime {onnx_seconds:.2f}s; max |SQL - onnxruntime| {difference:.1e}"
    )
    return difference


def main() -> int:
    """Generate, train (each family on its own and both), compare scoring."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/propensity-own-table"))
    parser.add_argument("--families", nargs="+", default=[])
    arguments = parser.parse_args()
    workdir = arguments.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"accounts_{arguments.rows}.parquet"
    if not path.exists():
        flat_table(arguments.rows, arguments.seed).to_parquet(path, index=False)
    warehouse = workdir / "warehouse.duckdb"
    print(f"load average {os.getloadavg()[0]:.1f}; table {path}")
    result = train_own_table(
        OwnTableSettings(
            source=TableSource.from_path(path),
            label="responded",
            id_column="account_id",
            time_column="observed_at",
            warehouse=warehouse,
            model_dir=workdir / "models",
            families=tuple(arguments.families),
        ),
        progress=print,
    )
    for line in describe_result(result):
        print(line)
    difference = compare_scoring(warehouse, result.model.model_version)
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0 if difference <= PARITY_TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
