"""Benchmark in-warehouse SQL scoring (propensity.onnx_sql) against orbital and onnxruntime.

Usage:
    python bench/bench_sql_scoring.py --rows 1000000 --features 12

Builds a synthetic table in DuckDB (fixed seed, ~5% missing values stored as NULL), trains the
supported model families on a sample of it, exports them with skl2onnx (zipmap disabled) and
times, median of ``--runs`` interleaved rounds after one warm-up each:

* ours:      ``CREATE OR REPLACE TABLE t AS <compile_onnx(...).select_sql(...)>``
* orbital:   the same statement around orbital's SQL for the same fitted sklearn pipeline
* ORT:       ``session.run`` on the float32 numpy array of the same rows
* ORT+fetch: the DuckDB -> numpy float32 fetch plus ``session.run``

``diff`` is max |ours - onnxruntime| over every row (joined on id); ``orbital diff`` likewise.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

try:
    from propensity.onnx_sql import compile_onnx
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    from propensity.onnx_sql import compile_onnx

warnings.filterwarnings("ignore")

TABLE = "bench_features"
PAUSE = 0.3  # seconds between timed calls


@dataclass
class Result:
    """One row of the benchmark table."""

    model: str
    ours: float
    orbital: float | None
    orbital_note: str
    ort: float
    ort_fetch: float
    diff: float
    orbital_diff: float | None
    sql_chars: int


def make_table(
    con: duckdb.DuckDBPyConnection, rows: int, features: int, seed: int, nan_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Create the feature table (id + DOUBLE columns with NULLs); return float32 X and labels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    logit = (
        1.5 * x[:, 0]
        - x[:, 1 % features]
        + 0.5 * x[:, 2 % features] * x[:, 3 % features]
        + np.sin(2.0 * x[:, 4 % features])
        + 0.3 * x[:, 5 % features] ** 2
        - 0.3
    )
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    x[rng.random(x.shape) < nan_rate] = np.nan
    arrays = [pa.array(np.arange(rows, dtype=np.int64))]
    arrays += [pa.array(x[:, j], mask=np.isnan(x[:, j])) for j in range(features)]
    names = ["id", *feature_names(features)]
    con.register("bench_arrow", pa.Table.from_arrays(arrays, names=names))
    con.execute(f"CREATE OR REPLACE TABLE {TABLE} AS SELECT * FROM bench_arrow ORDER BY id")
    con.unregister("bench_arrow")
    return x.astype(np.float32), y


def feature_names(features: int) -> list[str]:
    """Column names of the synthetic features."""
    return [f"f{i}" for i in range(features)]


def families() -> dict[str, Callable[[], Pipeline]]:
    """The supported model families, each as a sklearn Pipeline (orbital needs one)."""
    return {
        "logistic (impute+scale+LR)": lambda: Pipeline(
            [
                ("impute", SimpleImputer(strategy="median")),
                ("scale", StandardScaler()),
                ("clf", LogisticRegression(max_iter=1000)),
            ]
        ),
        "gradient_boosting (impute+100x d3)": lambda: Pipeline(
            [
                ("impute", SimpleImputer(strategy="median")),
                ("clf", GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0)),
            ]
        ),
        "hist_gradient_boosting (100 it)": lambda: Pipeline(
            [("clf", HistGradientBoostingClassifier(max_iter=100, random_state=0))]
        ),
    }


def timed_interleaved(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median wall-clock seconds per function: one warm-up each, then ``runs`` rounds in turn.

    Interleaving gives every contender the same share of whatever else the machine is doing.
    """
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
        time.sleep(PAUSE)
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
            # onnxruntime's intra-op threads keep spinning for a moment after run(); let them go
            # idle so they do not slow down whichever contender is timed next.
            time.sleep(PAUSE)
    return {name: statistics.median(values) for name, values in samples.items()}


def fetch_float32(con: duckdb.DuckDBPyConnection, features: int) -> np.ndarray:
    """Fetch the feature matrix ordered by id as float32 (NULL -> NaN)."""
    cols = ", ".join(feature_names(features))
    table = con.sql(f"SELECT {cols} FROM {TABLE} ORDER BY id").arrow()
    if not isinstance(table, pa.Table):  # newer duckdb returns a RecordBatchReader
        table = table.read_all()
    return np.column_stack(
        [table.column(i).to_numpy(zero_copy_only=False).astype(np.float32) for i in range(features)]
    )


def scores_by_id(con: duckdb.DuckDBPyConnection, table: str, column: str, key: str) -> np.ndarray:
    """The score column of a result table, ordered by ``key`` (id, or rowid for orbital)."""
    result = con.sql(f'SELECT "{column}" FROM {table} ORDER BY {key}').fetchnumpy()[column]
    return np.asarray(result, dtype=np.float64)


def orbital_sql(pipeline: Pipeline, features: int) -> tuple[str | None, str]:
    """orbital's DuckDB SQL for the fitted pipeline, or None and the reason."""
    try:
        import orbital
        import orbital.types as otypes
    except ImportError as exc:  # pragma: no cover - depends on the environment
        return None, f"n/a (orbital not importable: {exc})"
    try:
        parsed = orbital.parse_pipeline(
            pipeline, features={name: otypes.DoubleColumnType() for name in feature_names(features)}
        )
        sql = orbital.export_sql(TABLE, parsed, dialect="duckdb")
    except Exception as exc:  # orbital raises various errors for unsupported steps
        return None, f"n/a ({type(exc).__name__}: {str(exc)[:60]})"
    return sql, ""


def run_family(
    con: duckdb.DuckDBPyConnection,
    name: str,
    pipeline: Pipeline,
    x: np.ndarray,
    features: int,
    runs: int,
) -> Result:
    """Benchmark one fitted pipeline."""
    clf = pipeline.steps[-1][1]
    model = convert_sklearn(
        pipeline,
        initial_types=[("features", FloatTensorType([None, features]))],
        options={id(clf): {"zipmap": False}},
    )
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    scorer = compile_onnx(model, feature_names(features))
    sql = scorer.select_sql(TABLE, ["id"], score_column="score")
    osql, note = orbital_sql(pipeline, features)
    contenders: dict[str, Callable[[], object]] = {
        "ours": lambda: con.execute(f"CREATE OR REPLACE TABLE ours AS {sql}"),
        "ort": lambda: session.run(["probabilities"], {input_name: x}),
        "ort_fetch": lambda: session.run(
            ["probabilities"], {input_name: fetch_float32(con, features)}
        ),
    }
    if osql is not None:
        try:
            con.execute(f"CREATE OR REPLACE TABLE orb AS {osql}")
            contenders["orbital"] = lambda: con.execute(f"CREATE OR REPLACE TABLE orb AS {osql}")
        except Exception as exc:  # orbital's SQL may not run on this DuckDB
            osql, note = None, f"n/a ({type(exc).__name__}: {str(exc)[:60]})"
    seconds = timed_interleaved(contenders, runs)

    expected = session.run(["probabilities"], {input_name: x})[0][:, 1].astype(np.float64)
    diff = float(np.max(np.abs(scores_by_id(con, "ours", "score", "id") - expected)))
    orbital_diff = None
    if osql is not None:
        # orbital cannot pass the id through (it treats every input column as a feature);
        # DuckDB preserves insertion order, so rowid order is the id order of the source.
        got = scores_by_id(con, "orb", "output_probability.1", "rowid")
        orbital_diff = float(np.nanmax(np.abs(got - expected)))
    ours, ort_seconds, ort_fetch = seconds["ours"], seconds["ort"], seconds["ort_fetch"]
    orbital_seconds = seconds.get("orbital")
    return Result(
        name, ours, orbital_seconds, note, ort_seconds, ort_fetch, diff, orbital_diff, len(sql)
    )


def print_table(results: list[Result]) -> None:
    """Print the results as an aligned text table."""
    header = [
        "model",
        "ours SQL s",
        "orbital SQL s",
        "ORT s",
        "ORT+fetch s",
        "ours/ORT",
        "max|diff|",
        "orbital max|diff|",
    ]
    rows = []
    for r in results:
        rows.append(
            [
                r.model,
                f"{r.ours:.3f}",
                f"{r.orbital:.3f}" if r.orbital is not None else r.orbital_note,
                f"{r.ort:.3f}",
                f"{r.ort_fetch:.3f}",
                f"{r.ours / r.ort:.2f}",
                f"{r.diff:.2e}",
                f"{r.orbital_diff:.2e}" if r.orbital_diff is not None else "-",
            ]
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=12)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per measurement (median)")
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--nan-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = default)")
    parser.add_argument("--only", default="", help="comma-separated substrings of model names")
    args = parser.parse_args(argv)

    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    x, y = make_table(con, args.rows, args.features, args.seed, args.nan_rate)
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    print(
        f"rows={args.rows:,} features={args.features} train_rows={args.train_rows:,} "
        f"nan_rate={args.nan_rate} runs={args.runs} (median)"
    )
    print(
        f"duckdb {duckdb.__version__} threads={threads}; onnxruntime {ort.__version__} "
        f"(default session options); cpus={os.cpu_count()}; {platform.processor() or ''} "
        f"load avg at start={os.getloadavg()[0]:.2f}"
    )
    n_train = min(args.train_rows, args.rows)
    results = []
    for name, factory in families().items():
        if args.only and not any(s.strip() and s.strip() in name for s in args.only.split(",")):
            continue
        pipeline = factory().fit(x[:n_train], y[:n_train])
        results.append(run_family(con, name, pipeline, x, args.features, args.runs))
        print(f"  done: {name}", file=sys.stderr)
    print()
    print_table(results)
    print(f"\nload avg at end={os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
