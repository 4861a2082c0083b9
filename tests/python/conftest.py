"""Shared fixtures of the end-to-end suite.

One data set is generated (fixed seed) and built once per session with a full `dbt build` into
a temporary DuckDB file. Tests read that warehouse read-only and close their connections;
tests that change data or run dbt again copy what they need into their own directories first.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from propensity.generate import generate
from propensity.pipeline import run_dbt

CUSTOMERS = 2000
SEED = 7

_invocation_numbers = itertools.count(1)


@dataclass(frozen=True)
class Built:
    """A generated data set, its built warehouse and where its models went."""

    root: Path
    raw_dir: Path
    truth_dir: Path
    warehouse: Path
    model_dir: Path

    @property
    def truth_file(self) -> Path:
        return self.truth_dir / "upsell_truth.parquet"


class Dbt:
    """Helpers for tests that run dbt or read warehouses (every connection is closed after)."""

    @staticmethod
    def run(
        arguments: Sequence[str],
        *,
        warehouse: Path,
        raw_dir: Path | None,
        variables: Mapping[str, object],
        work_dir: Path | None = None,
    ) -> Path:
        """Run one dbt command with the given vars; returns the directory of its target/ and
        logs/ (work_dir, or a fresh one beside the warehouse). Raises DbtRunError on failure."""
        work = work_dir or warehouse.parent / f"dbt-{next(_invocation_numbers)}"
        run_dbt(
            [
                *arguments,
                "--vars",
                json.dumps(dict(variables)),
                "--target-path",
                str(work / "target"),
                "--log-path",
                str(work / "logs"),
            ],
            warehouse=warehouse,
            raw_dir=raw_dir,
        )
        return work

    @staticmethod
    def query(warehouse: Path, sql: str, parameters: Sequence[object] = ()) -> pd.DataFrame:
        """Run one query against a warehouse opened read-only."""
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            return connection.execute(sql, list(parameters)).df()

    @staticmethod
    def rows(warehouse: Path, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        """The rows of one query as Python tuples, read-only."""
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            return connection.execute(sql, list(parameters)).fetchall()

    @staticmethod
    def scalar(warehouse: Path, sql: str, parameters: Sequence[object] = ()) -> object:
        """The single value of a one-row, one-column query, read-only."""
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            row = connection.execute(sql, list(parameters)).fetchone()
        assert row is not None, sql
        return row[0]

    @staticmethod
    def raw(raw_dir: Path, table: str) -> pd.DataFrame:
        """A raw table exactly as its Parquet files hold it."""
        with duckdb.connect() as connection:
            return connection.execute(
                f"select * from read_parquet('{raw_dir / table}/*.parquet', union_by_name = true)"
            ).df()

    @staticmethod
    def copy_warehouse(source: Path, destination: Path) -> Path:
        """Copy a closed DuckDB file (and its WAL, if any) to destination."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        wal = source.with_name(source.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, destination.with_name(destination.name + ".wal"))
        return destination


def to_utc(text: str | None) -> datetime | None:
    """A raw ISO-8601 string with a UTC offset as a naive UTC datetime (None stays None)."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return None
    return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)


@pytest.fixture(scope="session")
def dbt() -> type[Dbt]:
    """The dbt and warehouse helpers."""
    return Dbt


@pytest.fixture(scope="session")
def utc() -> Callable[[str | None], datetime | None]:
    """to_utc(text): a raw timestamp string converted in Python to a naive UTC datetime."""
    return to_utc


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The session's generated raw data and its one full `dbt build`. Read it, never change it.

    For local debugging, PROPENSITY_TEST_BUILD=<dir> keeps the build in <dir> and reuses it
    when it is already there (delete the directory after changing the project)."""
    reuse = os.environ.get("PROPENSITY_TEST_BUILD")
    root = Path(reuse) if reuse else tmp_path_factory.mktemp("propensity")
    if reuse and (root / "built.ok").exists():
        yield Built(
            root=root,
            raw_dir=root / "data" / "raw",
            truth_dir=root / "data" / "truth",
            warehouse=root / "warehouse" / "propensity.duckdb",
            model_dir=root / "models",
        )
        return
    raw_dir = root / "data" / "raw"
    generate(out_dir=raw_dir, customers=CUSTOMERS, seed=SEED)
    result = Built(
        root=root,
        raw_dir=raw_dir,
        truth_dir=root / "data" / "truth",
        warehouse=root / "warehouse" / "propensity.duckdb",
        model_dir=root / "models",
    )
    assert result.truth_file.exists()
    Dbt.run(
        ["build"],
        warehouse=result.warehouse,
        raw_dir=raw_dir,
        variables={"model_dir": str(result.model_dir)},
    )
    if reuse:
        (root / "built.ok").touch()
    yield result
