"""Scale benchmark of the whole propensity pipeline, stage by stage, plus SQL vs ONNX scoring.

    python bench/bench_pipeline.py --customers 1000000 --seed 42 --workdir /tmp/propensity-bench

Every stage is timed on its own: wall seconds, CPU seconds (this process and its reaped
children), the 1-minute load average before>after (other work on the machine skews timings),
the peak RSS of the whole process tree during the stage (dbt runs as a child process), and the
rows it produced. dbt runs through propensity.pipeline.run_dbt, `dbt run` per build stage and
`dbt test` (data + unit tests) as a stage of its own, so build timings hold no test time. dbt's
target and log directories and the warehouse live under --workdir; the project's own target/
and warehouse/ are never touched. The run fails if some model is built by no stage.

The scoring comparison checks the product's target: the registered model's compiled SQL scores
the ~1M as-of feature rows (`create or replace temp table ... as <sql>`) no slower than
onnxruntime scores the same rows (float32, feature_columns order, NULL -> NaN), with the same
scores (max abs difference <= 1e-5). Each timing is the median of 3 runs after a warm-up;
onnxruntime is timed with its default, 1 and nproc intra-op threads and the fastest counts.
The same is done for both model families (trained here on a sample of ml.upsell_training_set)
and, for information, for orbital's SQL of the same scikit-learn pipelines.

    --keep            reuse generated data of the same size and seed
    --scoring-only    only the scoring comparison, on the warehouse a previous run left
    --explain a,b     EXPLAIN ANALYZE models a and b (their compiled SELECT) after the run;
                      with --explain-only, on the warehouse a previous run left. Writes
                      <workdir>/explain/<model>.txt (operator summary) and .json (profile).

Exit status: 0 when every stage ran and every compiled-SQL score matches onnxruntime within
1e-5; 1 otherwise. Missing the speed target is reported, not an error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

PROJECT_DIR = Path(__file__).resolve().parents[1]
try:
    import propensity  # noqa: F401
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(PROJECT_DIR / "python"))

from propensity.export import export_campaign  # noqa: E402
from propensity.generate import TABLES, generate  # noqa: E402
from propensity.pipeline import run_dbt  # noqa: E402

CAMPAIGN = "upsell_upgrade_nov"
PARITY_TOLERANCE = 1e-5
REPEATS = 3
PLACEHOLDER = "__propensity_features__"
MIB = 1024 * 1024


# --------------------------------------------------------------------------------------------
# Memory: peak RSS of this process and all its descendants while a stage runs
# --------------------------------------------------------------------------------------------
def _psutil_tree_rss() -> int:
    import psutil

    me = psutil.Process()
    total = 0
    for process in [me, *me.children(recursive=True)]:
        with suppress(psutil.Error):
            total += process.memory_info().rss
    return total


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _proc_tree_rss() -> int:
    """Sum of RSS over this process and its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    total = 0
    stack = [os.getpid()]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                total += int(statm.read().split()[1]) * _PAGE_SIZE
        except OSError:
            pass
        stack.extend(children.get(pid, ()))
    return total


def _memory_backend() -> tuple[str, Callable[[], int] | None]:
    try:
        import psutil  # noqa: F401

        return "psutil (process tree, sampled)", _psutil_tree_rss
    except ImportError:
        pass
    if Path("/proc/self/statm").exists():
        return "/proc polling (process tree, sampled every 50 ms)", _proc_tree_rss
    return "resource.getrusage (self + children, lifetime max)", None


def _reset_own_peak() -> bool:
    """Reset this process's VmHWM (Linux >= 4.0) so it measures one stage."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _own_peak() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class MemorySampler:
    """Peak RSS of the process tree while the context runs."""

    BACKEND, _SAMPLE = _memory_backend()
    SAMPLE = staticmethod(_SAMPLE) if _SAMPLE is not None else None

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self.own_peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reset_ok = False

    def _poll(self) -> None:
        assert self.SAMPLE is not None
        while not self._stop.is_set():
            with suppress(OSError):  # a process vanished mid-read: skip the sample
                self.peak = max(self.peak, self.SAMPLE())
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._reset_ok = _reset_own_peak()
        if self.SAMPLE is not None:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._reset_ok:
            self.own_peak = _own_peak()
        if self.SAMPLE is None:
            self_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            child_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
            self.peak = self_max + child_max
        elif self.own_peak is not None:
            # The kernel's high-water mark of this process catches spikes between samples.
            self.peak = max(self.peak, self.own_peak)


# --------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------
@dataclass
class Stage:
    name: str
    status: str = "not run"
    seconds: float | None = None
    peak_rss: int | None = None
    own_peak: int | None = None
    cpu_seconds: float | None = None  # user + system of this process and reaped children
    load: str = ""  # 1-minute load average at the start and the end of the stage
    rows: str = ""
    error: str = ""
    slowest: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    raw_dir: Path
    warehouse: Path
    model_dir: Path
    target_dir: Path
    log_dir: Path
    export_dir: Path
    stages: list[Stage] = field(default_factory=list)
    built_models: set[str] = field(default_factory=set)
    failed: bool = False  # any stage failed: the exit status is 1
    blocked: bool = False  # a stage later stages need failed: they are skipped
    notes: list[str] = field(default_factory=list)

    def dbt(self, *arguments: str) -> None:
        common = [
            "--vars",
            json.dumps({"model_dir": str(self.model_dir)}),
            "--target-path",
            str(self.target_dir),
            "--log-path",
            str(self.log_dir),
        ]
        if not self.args.dbt_verbose:
            common.append("--quiet")
        run_dbt([*arguments, *common], warehouse=self.warehouse, raw_dir=self.raw_dir)

    def run_results(self) -> list[dict]:
        path = self.target_dir / "run_results.json"
        if not path.exists():
            return []
        return json.loads(path.read_text()).get("results", [])

    @contextmanager
    def warehouse_connection(self, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        connection = duckdb.connect(str(self.warehouse), read_only=read_only)
        try:
            yield connection
        finally:
            connection.close()


def run_stage(
    bench: Bench,
    name: str,
    action: Callable[[], object],
    describe: Callable[[object], str] | None = None,
    *,
    dbt_stage: bool = False,
    critical: bool = True,
) -> bool:
    """Time one stage; describe its output afterwards (outside the timing)."""
    stage = Stage(name)
    bench.stages.append(stage)
    if bench.blocked:
        stage.status = "skipped"
        return False
    print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
    result = None
    if dbt_stage:
        (bench.target_dir / "run_results.json").unlink(missing_ok=True)
    load_before = load_average()
    cpu_before = cpu_seconds()
    try:
        with MemorySampler() as sampler:
            started = time.perf_counter()
            try:
                result = action()
            finally:
                stage.seconds = time.perf_counter() - started
                stage.cpu_seconds = cpu_seconds() - cpu_before
                stage.load = f"{load_before}>{load_average()}"
        stage.status = "ok"
    except Exception as error:
        stage.status = "FAILED"
        stage.error = f"{type(error).__name__}: {error}"
        traceback.print_exc()
        bench.failed = True
        bench.blocked = bench.blocked or critical
    stage.peak_rss, stage.own_peak = sampler.peak, sampler.own_peak
    if dbt_stage:
        results = bench.run_results()
        stage.slowest = sorted(
            (
                (r["unique_id"].split(".", 2)[-1], float(r.get("execution_time") or 0))
                for r in results
            ),
            key=lambda item: -item[1],
        )[:4]
        bad = [f"{r['unique_id']}={r['status']}" for r in results if r.get("status") in BAD]
        if bad:
            stage.error = (stage.error + " " if stage.error else "") + "; ".join(bad[:10])
        bench.built_models.update(
            r["unique_id"]
            for r in results
            if r["unique_id"].startswith("model.") and r.get("status") == "success"
        )
    if describe is not None:
        try:
            stage.rows = describe(result)
        except Exception as error:
            stage.rows = f"(row count failed: {type(error).__name__}: {error})"
    print(
        f"    {stage.status} in {stage.seconds:.1f}s, peak RSS {fmt_mib(stage.peak_rss)}"
        f" -- {stage.rows}",
        flush=True,
    )
    return stage.status == "ok"


BAD = {"error", "fail", "runtime error", "skipped"}


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def fmt_mib(value: int | None) -> str:
    return "-" if value is None else f"{value / MIB:,.0f} MiB"


def fmt_count(value: int | None) -> str:
    if value is None:
        return "?"
    if value >= 1_000_000:
        return f"{value / 1e6:.2f}M"
    if value >= 10_000:
        return f"{value / 1e3:.1f}k"
    return str(value)


def count_rows(connection: duckdb.DuckDBPyConnection, relation: str) -> int | None:
    try:
        return int(connection.execute(f"select count(*) from {relation}").fetchall()[0][0])
    except duckdb.Error:
        return None


# The clean marts: one per raw table of the source contract.
RAW_TABLES = frozenset(TABLES)


def schema_tables(connection: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    """Tables and views of a schema (the clean marts are views over the validated tables)."""
    rows = connection.execute(
        "select table_name from information_schema.tables where table_schema = ? order by 1",
        [schema],
    ).fetchall()
    return [row[0] for row in rows]


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------
def stage_generate(bench: Bench) -> None:
    marker = bench.workdir / "generated.json"
    wanted = {"customers": bench.args.customers, "seed": bench.args.seed}
    if bench.args.keep and marker.exists() and json.loads(marker.read_text()) == wanted:

        def reuse() -> dict[str, int]:
            counts = {}
            with duckdb.connect() as connection:
                for table_dir in sorted(p for p in bench.raw_dir.iterdir() if p.is_dir()):
                    counts[table_dir.name] = connection.execute(
                        f"select count(*) from read_parquet('{table_dir}/*.parquet')"
                    ).fetchall()[0][0]
            return counts

        run_stage(bench, "generate (kept: --keep)", reuse, describe_raw)
        return

    def action() -> dict[str, int]:
        marker.unlink(missing_ok=True)
        if bench.raw_dir.exists():
            shutil.rmtree(bench.raw_dir)
        summary = generate(
            out_dir=bench.raw_dir, customers=bench.args.customers, seed=bench.args.seed
        )
        marker.write_text(json.dumps(wanted))
        return dict(summary.row_counts)

    run_stage(bench, "generate", action, describe_raw)


def describe_raw(counts: object) -> str:
    assert isinstance(counts, dict)
    total = sum(counts.values())
    biggest = sorted(counts.items(), key=lambda item: -item[1])[:4]
    parts = ", ".join(f"{name} {fmt_count(n)}" for name, n in biggest)
    return f"raw rows {fmt_count(total)} ({parts}, ...)"


def run_pipeline(bench: Bench) -> None:
    stage_generate(bench)
    for path in (bench.warehouse, bench.warehouse.with_suffix(".duckdb.wal")):
        path.unlink(missing_ok=True)
    for directory in (bench.model_dir, bench.target_dir, bench.export_dir):
        shutil.rmtree(directory, ignore_errors=True)

    def describe_seed(_: object) -> str:
        with bench.warehouse_connection() as connection:
            tables = schema_tables(connection, "config")
            total = sum(count_rows(connection, f"config.{t}") or 0 for t in tables)
        return f"{len(tables)} seed tables, {total} rows"

    def describe_clean(_: object) -> str:
        with bench.warehouse_connection() as connection:
            tables = [t for t in schema_tables(connection, "marts") if t in RAW_TABLES]
            core = {t: count_rows(connection, f"marts.{t}") or 0 for t in tables}
            quarantined = count_rows(connection, "quarantine.quarantined_rows")
        biggest = sorted(core.items(), key=lambda item: -item[1])[:3]
        return (
            f"clean rows {fmt_count(sum(core.values()))} in {len(core)} clean marts "
            f"({', '.join(f'{t} {fmt_count(n)}' for t, n in biggest)}); "
            f"quarantined {fmt_count(quarantined)}"
        )

    def describe_features(_: object) -> str:
        with bench.warehouse_connection() as connection:
            snapshots = count_rows(connection, "marts.customer_feature_snapshots")
            as_of = count_rows(
                connection, "marts.customer_feature_snapshots where is_as_of_snapshot"
            )
            parts = [
                f"{name[4:]} {fmt_count(count_rows(connection, 'intermediate.' + name))}"
                for name in (
                    "int_customer_daily_activity",
                    "int_customer_windowed_activity",
                    "int_customer_period_activity",
                    "int_subscription_snapshots",
                    "int_orders_enriched",
                )
            ]
        return f"feature rows {fmt_count(snapshots)} (as-of {fmt_count(as_of)}); " + ", ".join(
            parts
        )

    def describe_labels(_: object) -> str:
        with bench.warehouse_connection() as connection:
            labels = count_rows(connection, "intermediate.int_upsell_labels")
            training = count_rows(connection, "ml.upsell_training_set")
            positives = count_rows(connection, "ml.upsell_training_set where has_upgraded")
        return (
            f"label rows {fmt_count(labels)}; training rows {fmt_count(training)} "
            f"({fmt_count(positives)} positive)"
        )

    def describe_train(_: object) -> str:
        with bench.warehouse_connection() as connection:
            rows = connection.execute(
                "select model_version, model_family, training_rows, validation_rows, "
                "validation_pr_auc, validation_roc_auc from ml.model_registry "
                "order by trained_at desc limit 1"
            ).fetchall()
        if not rows:
            return "no model registered"
        version, family, train_rows, validation_rows, pr_auc, roc_auc = rows[0]
        return (
            f"{version} {family}: fit on {fmt_count(train_rows)} rows, validated on "
            f"{fmt_count(validation_rows)} (PR-AUC {pr_auc:.3f}, ROC-AUC {roc_auc:.3f})"
        )

    def describe_scores(_: object) -> str:
        with bench.warehouse_connection() as connection:
            scored = count_rows(connection, "ml.upsell_scores")
            nulls = count_rows(connection, "ml.upsell_scores where score is null")
        return f"scored rows {fmt_count(scored)} ({nulls} null scores)"

    def describe_segments(_: object) -> str:
        with bench.warehouse_connection() as connection:
            segments = count_rows(connection, "segments.customer_segments")
        return f"segment rows {fmt_count(segments)}"

    def describe_reasons(_: object) -> str:
        with bench.warehouse_connection() as connection:
            reasons = count_rows(connection, "ml.score_reasons")
            customers = count_rows(
                connection, "(select distinct customer_id from ml.score_reasons) as explained"
            )
        return f"reason rows {fmt_count(reasons)} for {fmt_count(customers)} customers"

    def describe_audiences(_: object) -> str:
        with bench.warehouse_connection() as connection:
            suppressions = count_rows(connection, "audiences.campaign_suppressions")
            audiences = count_rows(connection, "audiences.campaign_audiences")
        return f"suppression rows {fmt_count(suppressions)}; audience rows {fmt_count(audiences)}"

    def describe_monitoring(_: object) -> str:
        with bench.warehouse_connection() as connection:
            drift = connection.execute(
                "select count(*), max(psi), count(*) filter (where drift_status != 'stable') "
                "from monitoring.feature_drift"
            ).fetchone()
            history = count_rows(connection, "monitoring.score_history")
        return (
            f"drift rows {drift[0]} (max PSI {drift[1] or 0:.3f}, {drift[2]} not stable); "
            f"score history rows {fmt_count(history)}"
        )

    def describe_tests(_: object) -> str:
        tally: dict[str, int] = {}
        units = 0
        for result in bench.run_results():
            tally[result["status"]] = tally.get(result["status"], 0) + 1
            units += result["unique_id"].startswith("unit_test.")
        summary = ", ".join(f"{n} {status}" for status, n in sorted(tally.items()))
        return f"{sum(tally.values())} tests ({units} unit tests): {summary}"

    def export(file_format: str) -> Callable[[], object]:
        def action() -> object:
            out = bench.export_dir / f"{CAMPAIGN}.{file_format}"
            return export_campaign(bench.warehouse, CAMPAIGN, file_format, out)

        return action

    def describe_export(summary: object) -> str:
        size = summary.path.stat().st_size  # type: ignore[attr-defined]
        return (
            f"exported rows {fmt_count(summary.rows)} "  # type: ignore[attr-defined]
            f"({fmt_count(summary.control_rows_left_out)} control left out), "  # type: ignore[attr-defined]
            f"{size / MIB:,.1f} MiB"
        )

    dbt_stages: list[tuple[str, list[str], Callable[[object], str] | None, bool]] = [
        ("dbt parse", ["parse"], None, True),
        ("dbt seed", ["seed"], describe_seed, True),
        (
            "staging + validation + clean marts + quarantine",
            [
                "run",
                "--select",
                "path:models/staging",
                "path:models/intermediate/validation",
                "path:models/marts/core",
                "path:models/marts/quarantine",
            ],
            describe_clean,
            True,
        ),
        (
            "features (customer_feature_snapshots + intermediates)",
            ["run", "--select", "path:models/intermediate/features", "path:models/marts/features"],
            describe_features,
            True,
        ),
        (
            "segments",
            ["run", "--select", "path:models/marts/segments"],
            describe_segments,
            True,
        ),
        (
            "labels + training set",
            [
                "run",
                "--select",
                "path:models/intermediate/labels",
                "ml_task_features",
                "upsell_training_set",
            ],
            describe_labels,
            True,
        ),
        ("train (model_registry)", ["run", "--select", "model_registry"], describe_train, True),
        ("score (upsell_scores)", ["run", "--select", "upsell_scores"], describe_scores, True),
        ("reasons (score_reasons)", ["run", "--select", "score_reasons"], describe_reasons, True),
        (
            "suppressions + audiences",
            ["run", "--select", "path:models/audiences"],
            describe_audiences,
            True,
        ),
        (
            "monitoring (drift, score history, realised performance)",
            ["run", "--select", "path:models/marts/monitoring"],
            describe_monitoring,
            True,
        ),
        ("dbt test (data + unit tests)", ["test"], describe_tests, False),
    ]
    for name, arguments, describe, critical in dbt_stages:
        run_stage(
            bench,
            name,
            lambda arguments=arguments: bench.dbt(*arguments),
            describe,
            dbt_stage=True,
            critical=critical,
        )
    check_every_model_built(bench)
    run_stage(bench, "export CSV", export("csv"), describe_export)
    run_stage(bench, "export Parquet", export("parquet"), describe_export)


def check_every_model_built(bench: Bench) -> None:
    """Every model of the project must be built by exactly one of the stages above."""
    manifest_path = bench.target_dir / "manifest.json"
    if bench.blocked or not manifest_path.exists():
        return
    nodes = json.loads(manifest_path.read_text())["nodes"]
    models = {uid for uid, node in nodes.items() if node["resource_type"] == "model"}
    missing = sorted(models - bench.built_models)
    if missing:
        bench.notes.append(
            "models built by no stage (the stage selectors need updating): " + ", ".join(missing)
        )
        bench.failed = True


# --------------------------------------------------------------------------------------------
# Scoring: compiled SQL in DuckDB vs onnxruntime on the as-of rows
# --------------------------------------------------------------------------------------------
@dataclass
class ScoringResult:
    label: str
    sql_seconds: float | None = None
    ort_seconds: float | None = None
    ort_fetch_seconds: float | None = None
    max_diff: float | None = None
    null_scores: int | None = None
    sql_chars: int | None = None
    sql_one_row_seconds: float | None = None
    ort_threads: str = ""  # onnxruntime seconds per intra-op thread setting
    checks_parity: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.sql_seconds is None or not self.ort_seconds:
            return None
        return self.sql_seconds / self.ort_seconds

    @property
    def ratio_fetch(self) -> float | None:
        if self.sql_seconds is None or not self.ort_fetch_seconds:
            return None
        return self.sql_seconds / self.ort_fetch_seconds


def median_seconds(action: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median wall time of `repeats` runs after one untimed warm-up run."""
    action()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def fetch_matrix(
    connection: duckdb.DuckDBPyConnection, relation: str, feature_columns: list[str], order: bool
) -> tuple[np.ndarray, np.ndarray]:
    """customer_ids and the float32 feature matrix (feature_columns order, NULL -> NaN)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = ", ".join(f'"{c}"' for c in ["customer_id", *feature_columns])
    sql = f"select {columns} from {relation}" + (" order by customer_id" if order else "")
    table = connection.sql(sql).to_arrow_table()
    matrix = np.empty((table.num_rows, len(feature_columns)), dtype=np.float32)
    for index, name in enumerate(feature_columns):
        column = pc.cast(table.column(name), pa.float32())
        matrix[:, index] = column.to_numpy(zero_copy_only=False)
    ids = table.column("customer_id").to_numpy()
    return ids, matrix


class OrtScorer:
    """An onnxruntime CPU session returning the positive-class probability."""

    def __init__(self, onnx_bytes: bytes, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime's default
        self.threads = threads
        self.session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]
        self.output = next((o for o in outputs if "prob" in o.lower()), outputs[-1])

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        (probabilities,) = self.session.run([self.output], {self.input: matrix})
        return np.asarray(probabilities)[:, 1].astype(np.float64)


# onnxruntime thread settings tried; the fastest is the one SQL is compared with.
ORT_THREAD_SETTINGS = (0, 1, os.cpu_count() or 1)


def compare_one(
    connection: duckdb.DuckDBPyConnection,
    result: ScoringResult,
    select_sql: str,
    onnx_bytes: bytes | None,
    feature_columns: list[str],
    ids: np.ndarray,
    matrix: np.ndarray,
) -> None:
    """Time SQL (create table as) and onnxruntime on the as-of rows; compare the scores."""
    result.sql_chars = len(select_sql)
    one_row = select_sql.replace("(select * from bench_asof)", "(select * from bench_asof limit 1)")
    if one_row != select_sql:  # parse + plan + optimise cost, measured on a single row
        result.sql_one_row_seconds = median_seconds(
            lambda: connection.execute(f"create or replace temp table bench_scores as {one_row}")
        )
    result.sql_seconds = median_seconds(
        lambda: connection.execute(f"create or replace temp table bench_scores as {select_sql}")
    )
    scored = connection.sql(
        "select customer_id, score from bench_scores order by customer_id"
    ).to_arrow_table()
    sql_ids = scored.column("customer_id").to_numpy()
    sql_scores = scored.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
    result.null_scores = int(scored.column("score").null_count)
    if onnx_bytes is None:
        return
    timings = {}
    for threads in dict.fromkeys(ORT_THREAD_SETTINGS):
        candidate = OrtScorer(onnx_bytes, threads)
        timings[threads] = (
            median_seconds(lambda candidate=candidate: candidate(matrix)),
            candidate,
        )
    best = min(timings, key=lambda threads: timings[threads][0])
    result.ort_seconds, scorer = timings[best]
    result.ort_threads = ", ".join(
        f"{'default' if t == 0 else t} {seconds:.3f}s" for t, (seconds, _) in timings.items()
    )

    def fetch_and_score() -> np.ndarray:
        _, fetched = fetch_matrix(connection, "bench_asof", feature_columns, order=False)
        return scorer(fetched)

    result.ort_fetch_seconds = median_seconds(fetch_and_score)
    ort_scores = scorer(matrix)
    if not np.array_equal(sql_ids, ids):
        result.note = "SQL returned a different set of customer_ids"
        result.max_diff = float("inf")
        return
    both_nan = np.isnan(sql_scores) & np.isnan(ort_scores)
    diff = np.abs(sql_scores - ort_scores)
    diff[both_nan] = 0.0
    diff[np.isnan(diff)] = np.inf
    result.max_diff = float(diff.max()) if diff.size else 0.0
    if result.max_diff > PARITY_TOLERANCE:
        has_null = np.isnan(matrix).any(axis=1)
        complete = float(diff[~has_null].max()) if (~has_null).any() else 0.0
        with_null = float(diff[has_null].max()) if has_null.any() else 0.0
        worst = int(np.argmax(diff))
        result.note += (
            f"{'; ' if result.note else ''}max|diff| {complete:.2e} on rows without NULL "
            f"features, {with_null:.2e} on rows with NULLs; {int((diff > PARITY_TOLERANCE).sum())}"
            f" rows over {PARITY_TOLERANCE:g}; worst customer_id {ids[worst]} "
            f"(SQL {sql_scores[worst]:.6f} vs ORT {ort_scores[worst]:.6f})"
        )


def compare_scoring(bench: Bench) -> list[ScoringResult]:
    import onnx

    from propensity.onnx_sql import compile_onnx
    from propensity.registry import sample_training_rows
    from propensity.train import (
        FEATURES_PLACEHOLDER,
        PASSTHROUGH_COLUMNS,
        candidate_models,
        export_onnx,
        feature_matrix,
    )

    results: list[ScoringResult] = []
    connection = duckdb.connect(str(bench.warehouse), read_only=True)
    try:
        version, family, feature_json, onnx_path, scoring_sql = connection.execute(
            "select model_version, model_family, feature_columns, onnx_path, scoring_sql "
            "from ml.model_registry where task = 'upsell' order by trained_at desc limit 1"
        ).fetchall()[0]
        feature_columns = list(json.loads(feature_json))
        connection.execute(
            "create temp table bench_asof as "
            "select * from marts.customer_feature_snapshots where is_as_of_snapshot"
        )
        rows, snapshot = connection.execute(
            "select count(*), max(snapshot_date) from bench_asof"
        ).fetchall()[0]
        print(f"    as-of rows: {rows:,} at snapshot {snapshot}", flush=True)
        fetch_started = time.perf_counter()
        ids, matrix = fetch_matrix(connection, "bench_asof", feature_columns, order=True)
        bench.notes.append(
            f"as-of rows {rows:,} at {snapshot}; {len(feature_columns)} features; one ordered "
            f"fetch into a float32 matrix took {time.perf_counter() - fetch_started:.2f}s"
        )
        source = "(select * from bench_asof)"

        registered = ScoringResult(f"registry {version} ({family})")
        results.append(registered)
        compare_one(
            connection,
            registered,
            scoring_sql.replace(PLACEHOLDER, source),
            Path(onnx_path).read_bytes(),
            feature_columns,
            ids,
            matrix,
        )
        print(f"    {registered.label}: done", flush=True)

        # Both model families, fitted here on a sample of the training set.
        training = connection.table("ml.upsell_training_set")
        frame = sample_training_rows(training, bench.args.family_sample_rows, seed=20261125)
        x_train = feature_matrix(frame, tuple(feature_columns))
        y_train = frame["has_upgraded"].astype(int).to_numpy()
        fitted = {}
        for name, pipeline in candidate_models(20261125).items():
            started = time.perf_counter()
            pipeline.fit(x_train, y_train)
            fit_seconds = time.perf_counter() - started
            fitted[name] = pipeline
            onnx_bytes = export_onnx(pipeline, len(feature_columns))
            started = time.perf_counter()
            compiled = compile_onnx(onnx.load_from_string(onnx_bytes), feature_columns)
            sql = compiled.select_sql(FEATURES_PLACEHOLDER, PASSTHROUGH_COLUMNS)
            compile_seconds = time.perf_counter() - started
            result = ScoringResult(f"propensity SQL, {name}")
            result.note = (
                f"fit {fit_seconds:.1f}s on {len(frame):,} rows, compile {compile_seconds:.2f}s"
            )
            results.append(result)
            compare_one(
                connection,
                result,
                sql.replace(PLACEHOLDER, source),
                onnx_bytes,
                feature_columns,
                ids,
                matrix,
            )
            print(f"    {result.label}: done", flush=True)

        for name, pipeline in fitted.items():
            result = ScoringResult(f"orbital SQL, {name}", checks_parity=False)
            results.append(result)
            try:
                sql = orbital_sql(connection, pipeline, feature_columns)
            except Exception as error:
                result.note = f"orbital cannot translate it: {type(error).__name__}: {error}"
                continue
            result.note = "informational, not a parity check (orbital converts the pipeline itself)"
            try:
                compare_one(
                    connection,
                    result,
                    sql,
                    export_onnx(pipeline, len(feature_columns)),
                    feature_columns,
                    ids,
                    matrix,
                )
            except Exception as error:
                result.note = f"orbital SQL failed in DuckDB: {type(error).__name__}: {error}"
            print(f"    {result.label}: done", flush=True)
    finally:
        connection.close()
    return results


def orbital_sql(
    connection: duckdb.DuckDBPyConnection, pipeline: object, feature_columns: list[str]
) -> str:
    """orbital's SQL for a fitted pipeline, reading the as-of rows with FLOAT feature columns."""
    import orbital
    import orbital.types as orbital_types

    casts = ", ".join(f'cast("{c}" as float) as "{c}"' for c in feature_columns)
    connection.execute(
        f"create or replace temp view bench_asof_float as "
        f"select customer_id, snapshot_date, {casts} from bench_asof"
    )
    features: dict[str, orbital_types.ColumnType] = {
        "customer_id": orbital_types.Int64ColumnType(passthrough=True)
    }
    features.update({c: orbital_types.FloatColumnType() for c in feature_columns})
    parsed = orbital.parse_pipeline(pipeline, features=features)
    sql = orbital.export_sql(
        "bench_asof_float",
        parsed,
        dialect="duckdb",
        projection=orbital.ResultsProjection(["customer_id"]),
    )
    return f'select customer_id, "output_probability.1" as score from ({sql}) as orbital_scored'


# --------------------------------------------------------------------------------------------
# EXPLAIN ANALYZE of chosen models' compiled SQL (for slow stages)
# --------------------------------------------------------------------------------------------
def explain_models(bench: Bench, models: list[str]) -> None:
    """EXPLAIN ANALYZE each model's compiled SELECT; write the JSON profile and a summary."""
    out_dir = bench.workdir / "explain"
    out_dir.mkdir(parents=True, exist_ok=True)
    nodes = json.loads((bench.target_dir / "manifest.json").read_text())["nodes"]
    for model in models:
        node = nodes.get(f"model.propensity.{model}")
        compiled = None
        if node is not None:
            compiled = bench.target_dir / "compiled" / "propensity" / node["original_file_path"]
        if compiled is None or not compiled.exists() or compiled.suffix != ".sql":
            print(f"explain: no compiled SQL for model {model} ({compiled})")
            continue
        sql = compiled.read_text()
        with bench.warehouse_connection(read_only=True) as connection, MemorySampler() as memory:
            started = time.perf_counter()
            plan = connection.execute(f"explain (analyze, format json) {sql}").fetchall()
            seconds = time.perf_counter() - started
        profile = json.loads(plan[0][-1])
        (out_dir / f"{model}.json").write_text(json.dumps(profile, indent=1))
        system = profile.get("system", {})
        lines = [
            f"-- {compiled}",
            f"-- explain analyze {seconds:.1f}s wall, peak RSS {fmt_mib(memory.peak)}; "
            f"duckdb: cpu {profile.get('query', {}).get('cpu_time', 0):.1f}s, peak buffer "
            f"memory {fmt_mib(system.get('peak_buffer_memory'))}, spilled "
            f"{fmt_mib(system.get('total_bytes_spilled'))}, peak temp dir "
            f"{fmt_mib(system.get('peak_temp_dir_size'))}",
            "-- operator: thread-seconds, output rows, output bytes, details",
        ]
        for operator in profile.get("operator", []):
            lines.extend(operator_lines(operator, 0))
        path = out_dir / f"{model}.txt"
        path.write_text("\n".join(lines) + "\n")
        print(
            "\n".join(lines[1:2])
            + f"\n   plan summary {path}, full profile {path.with_suffix('.json')}"
        )


def operator_lines(operator: dict, depth: int) -> list[str]:
    """One compact line per profiled operator (skipping result/explain wrappers)."""
    name = operator.get("name", "?")
    children = operator.get("children", [])
    if name in {"RESULT_COLLECTOR", "EXPLAIN_ANALYZE"}:
        return [line for child in children for line in operator_lines(child, depth)]
    extra = operator.get("extra_info", {})
    details = []
    for key in ("Table", "Join Type", "Conditions", "Groups", "Aggregates", "Partitions"):
        if key in extra:
            value = extra[key]
            text = ", ".join(value) if isinstance(value, list) else str(value)
            details.append(f"{key}: {text[:120]}")
    line = (
        f"{'  ' * depth}{name} {operator.get('timing', 0):.2f}s "
        f"{fmt_count(operator.get('intermediate_rows', 0))} rows "
        f"{operator.get('intermediate_size_bytes', 0) / MIB:,.0f} MiB"
    )
    if details:
        line += "  [" + "; ".join(details) + "]"
    return [line] + [text for child in children for text in operator_lines(child, depth + 1)]


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------
def machine_description() -> list[str]:
    import dbt.version
    import onnxruntime
    import sklearn

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    total_ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total_ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"machine: nproc {usable} ({cpu}), RAM {total_ram}, {platform.platform()}",
        f"python {platform.python_version()}, duckdb {duckdb.__version__}, "
        f"dbt-core {dbt.version.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"scikit-learn {sklearn.__version__}",
        f"memory sampling: {MemorySampler.BACKEND}",
    ]


def print_stage_table(stages: list[Stage]) -> None:
    header = (
        f"{'stage':<54} {'status':<7} {'wall s':>7} {'cpu s':>7} {'load':>9} {'peak RSS':>10}  rows"
    )
    print(header)
    print("-" * len(header))
    for stage in stages:
        seconds = "-" if stage.seconds is None else f"{stage.seconds:.1f}"
        cpu = "-" if stage.cpu_seconds is None else f"{stage.cpu_seconds:.1f}"
        print(
            f"{stage.name:<54} {stage.status:<7} {seconds:>7} {cpu:>7} {stage.load:>9} "
            f"{fmt_mib(stage.peak_rss):>10}  {stage.rows}"
        )
        if stage.error:
            print(f"{'':<54} error: {stage.error}")
    timed = [s.seconds for s in stages if s.seconds is not None]
    peaks = [s.peak_rss for s in stages if s.peak_rss is not None]
    print("-" * len(header))
    cpus = [s.cpu_seconds for s in stages if s.cpu_seconds is not None]
    print(
        f"{'sum of stages':<54} {'':<7} {sum(timed):>7.1f} {sum(cpus):>7.1f} {'':>9} "
        f"{fmt_mib(max(peaks) if peaks else None):>10}  (peak: max over stages)"
    )
    slow = [s for s in stages if s.slowest]
    if slow:
        print("\nslowest dbt nodes per stage (execution_time s, from run_results.json):")
        for stage in slow:
            nodes = ", ".join(f"{name} {seconds:.1f}" for name, seconds in stage.slowest)
            print(f"  {stage.name}: {nodes}")


def fmt_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_scoring_table(results: list[ScoringResult]) -> None:
    header = (
        f"{'scorer (median of 3)':<48} {'SQL s':>8} {'ORT s':>8} {'ORT+fetch':>10} "
        f"{'SQL/ORT':>8} {'SQL/(ORT+f)':>12} {'max|diff|':>10}  verdict"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        diff = "-" if r.max_diff is None else f"{r.max_diff:.2e}"
        verdict = []
        if r.ratio is not None:
            verdict.append("speed ok" if r.ratio <= 1.0 else "SLOWER than ORT")
        if r.max_diff is not None:
            if r.max_diff <= PARITY_TOLERANCE:
                verdict.append("parity ok")
            else:
                verdict.append("PARITY FAIL" if r.checks_parity else "differs from ORT")
        if r.null_scores:
            verdict.append(f"{r.null_scores} NULL scores")
        print(
            f"{r.label:<48} {fmt_seconds(r.sql_seconds):>8} {fmt_seconds(r.ort_seconds):>8} "
            f"{fmt_seconds(r.ort_fetch_seconds):>10} {fmt_ratio(r.ratio):>8} "
            f"{fmt_ratio(r.ratio_fetch):>12} {diff:>10}  {', '.join(verdict)}"
        )
        if r.note:
            print(f"{'':<4}{r.note}")
        if r.sql_chars:
            fixed = ""
            if r.sql_one_row_seconds is not None:
                fixed = f"; the same statement on 1 row takes {r.sql_one_row_seconds:.3f}s"
            print(f"{'':<4}SQL text {r.sql_chars:,} characters{fixed}")
        if r.ort_threads:
            print(f"{'':<4}onnxruntime by intra-op threads: {r.ort_threads} (fastest used)")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/propensity-bench"))
    parser.add_argument(
        "--keep", action="store_true", help="reuse generated data of the same size and seed"
    )
    parser.add_argument(
        "--family-sample-rows",
        type=int,
        default=200_000,
        help="training-set sample for the per-family scoring comparison",
    )
    parser.add_argument(
        "--explain",
        default="",
        help="comma-separated models whose compiled SQL to EXPLAIN ANALYZE after the run",
    )
    parser.add_argument(
        "--explain-only",
        action="store_true",
        help="only run --explain against the warehouse an earlier run left in --workdir",
    )
    parser.add_argument("--skip-scoring", action="store_true", help="pipeline stages only")
    parser.add_argument(
        "--scoring-only",
        action="store_true",
        help="only the scoring comparison, on the warehouse an earlier run left in --workdir",
    )
    parser.add_argument("--dbt-verbose", action="store_true", help="let dbt log to stdout")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(
        args=args,
        workdir=workdir,
        raw_dir=workdir / "raw",
        warehouse=workdir / "warehouse" / "propensity.duckdb",
        model_dir=workdir / "models",
        target_dir=workdir / "target",
        log_dir=workdir / "logs",
        export_dir=workdir / "exports",
    )
    if args.explain_only:
        explain_models(bench, [m.strip() for m in args.explain.split(",") if m.strip()])
        return 0
    started = time.perf_counter()
    machine = machine_description()
    print("\n".join(machine))
    print(f"customers {args.customers:,}, seed {args.seed}, workdir {workdir}\n", flush=True)

    if args.scoring_only:
        if not bench.warehouse.exists():
            print(f"--scoring-only: no warehouse at {bench.warehouse}; run the benchmark first")
            return 1
    else:
        run_pipeline(bench)
    scoring: list[ScoringResult] = []
    if not args.skip_scoring:
        scoring_box: list[list[ScoringResult]] = []
        run_stage(
            bench,
            "scoring comparison (SQL vs onnxruntime, all scorers)",
            lambda: scoring_box.append(compare_scoring(bench)),
            lambda _: f"{len(scoring_box[0]) if scoring_box else 0} scorers compared",
        )
        scoring = scoring_box[0] if scoring_box else []
    if args.explain:
        explain_models(bench, [m.strip() for m in args.explain.split(",") if m.strip()])

    total = time.perf_counter() - started
    print("\n" + "=" * 100)
    print("\n".join(machine))
    print(f"customers {args.customers:,}, seed {args.seed}, workdir {workdir}\n")
    print_stage_table(bench.stages)
    if scoring:
        print()
        print_scoring_table(scoring)
    for note in bench.notes:
        print(f"note: {note}")
    sizes = []
    if bench.raw_dir.exists():
        raw_bytes = sum(p.stat().st_size for p in bench.raw_dir.rglob("*.parquet"))
        sizes.append(f"raw parquet {raw_bytes / MIB:,.0f} MiB")
    if bench.warehouse.exists():
        sizes.append(f"warehouse {bench.warehouse.stat().st_size / MIB:,.0f} MiB")
    print(f"\non disk: {', '.join(sizes)}")
    print(f"total wall time: {total:.1f}s")

    parity_failed = [
        r
        for r in scoring
        if r.checks_parity and (r.max_diff is None or r.max_diff > PARITY_TOLERANCE)
    ]
    if parity_failed:
        print(
            "FAILED: compiled SQL differs from onnxruntime: "
            + ", ".join(r.label for r in parity_failed)
        )
    if bench.failed:
        failed = [s.name for s in bench.stages if s.status == "FAILED"]
        print("FAILED stages: " + (", ".join(failed) or "(see notes)"))
    return 1 if bench.failed or parity_failed else 0


if __name__ == "__main__":
    sys.exit(main())
