"""Where a user's flat table lives: a Parquet file or glob, a CSV file, or a DuckDB table.

A source is stored with the model (absolute path or qualified table name), so the scoring SQL
can read the same table again; `relation_sql` is the table expression DuckDB reads it with.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

from propensity.onnx_sql import quote_identifier

SOURCE_KINDS = ("parquet", "csv", "table")
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


class SourceError(ValueError):
    """The input cannot be read as a flat table."""


def _sql_string(text: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _kind_of(name: str) -> str | None:
    lowered = name.lower().removesuffix(".gz").removesuffix(".zst")
    if lowered.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lowered.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def task_name(text: str) -> str:
    """A task name made of lowercase letters, digits and underscores, from any text."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
    if not name:
        return "table"
    return f"t_{name}" if name[0].isdigit() else name


@dataclass(frozen=True)
class TableSource:
    """A flat table: kind "parquet" or "csv" with an absolute path (or glob), or kind "table"
    with a qualified DuckDB table name."""

    kind: str
    location: str

    @classmethod
    def from_path(cls, path: str | Path) -> TableSource:
        """A Parquet file, glob or directory of Parquet files, or a CSV file."""
        text = str(path)
        resolved = Path(text).expanduser()
        if resolved.is_dir():
            for suffix in (".parquet", ".csv"):
                if list(resolved.glob(f"*{suffix}")):
                    return cls.from_path(resolved / f"*{suffix}")
            raise SourceError(f"{resolved} holds no .parquet or .csv file")
        kind = _kind_of(resolved.name)
        if kind is None:
            raise SourceError(
                f"{text}: not a Parquet (.parquet) or CSV (.csv, .tsv, .txt) file; "
                "for a DuckDB table use --table schema.name"
            )
        location = str(resolved.absolute())
        if not glob.glob(location):
            raise SourceError(f"no file matches {location}")
        return cls(kind, location)

    @classmethod
    def from_table(cls, name: str) -> TableSource:
        """A DuckDB table (or view) named `schema.name` (or `name`, in schema main)."""
        parts = [part.strip() for part in name.split(".")]
        if not 1 <= len(parts) <= 3 or not all(parts):
            raise SourceError(f"--table wants schema.name, not {name!r}")
        if len(parts) == 1:
            parts = ["main", *parts]
        return cls("table", ".".join(parts))

    def relation_sql(self) -> str:
        """The table expression DuckDB reads the source with."""
        if self.kind == "parquet":
            return f"read_parquet({_sql_string(self.location)})"
        if self.kind == "csv":
            return f"read_csv({_sql_string(self.location)})"
        if self.kind == "table":
            return ".".join(quote_identifier(part) for part in self.location.split("."))
        raise SourceError(f"unknown source kind {self.kind!r}; known: {', '.join(SOURCE_KINDS)}")

    def default_task(self) -> str:
        """The task name an input gives when none is named: the table's or the file's name
        (the directory's for a glob)."""
        if self.kind == "table":
            return task_name(self.location.split(".")[-1])
        path = Path(self.location)
        name = path.parent.name if any(c in path.name for c in "*?[") else path.name
        for suffix in (".gz", ".zst", *PARQUET_SUFFIXES, *CSV_SUFFIXES):
            name = name.removesuffix(suffix)
        return task_name(name)

    def describe(self) -> str:
        """How the source reads in a sentence."""
        what = {"parquet": "Parquet", "csv": "CSV", "table": "DuckDB table"}[self.kind]
        return f"{what} {self.location}"

    def to_dict(self) -> dict[str, str]:
        """The source as stored with the model."""
        return {"kind": self.kind, "location": self.location}

    @classmethod
    def from_dict(cls, stored: dict[str, str]) -> TableSource:
        """A source as stored with the model."""
        return cls(str(stored["kind"]), str(stored["location"]))
