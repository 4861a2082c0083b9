"""Run the dbt project as a subprocess, from anywhere, against a chosen warehouse file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
ERROR_CONTEXT_LINES = 40


class DbtRunError(RuntimeError):
    """A dbt command failed; the message carries dbt's error lines."""


def dbt_environment(warehouse: Path, raw_dir: Path | None = None) -> dict[str, str]:
    """The environment the project's profile and sources read, on top of this one."""
    environment = dict(os.environ)
    environment["PROPENSITY_WAREHOUSE"] = str(warehouse.resolve())
    environment["DBT_PROFILES_DIR"] = str(PROJECT_DIR)
    environment.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    if raw_dir is not None:
        environment["PROPENSITY_RAW_DIR"] = str(raw_dir.resolve())
    return environment


def run_dbt(
    arguments: Sequence[str],
    *,
    warehouse: Path,
    raw_dir: Path | None = None,
    project_dir: Path = PROJECT_DIR,
    echo: bool = True,
) -> None:
    """Run one dbt command (e.g. ["build"]); stream its output; raise DbtRunError on failure.

    dbt runs in its own process so that it holds the DuckDB file only while it runs.
    """
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    dbt = Path(sys.executable).with_name("dbt")
    command = [str(dbt), *arguments, "--project-dir", str(project_dir)]
    tail: deque[str] = deque(maxlen=ERROR_CONTEXT_LINES)
    # From dbt's first error line on: the lines after it name the model, column or row.
    errors: list[str] = []
    with subprocess.Popen(
        command,
        cwd=project_dir,
        env=dbt_environment(warehouse, raw_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if echo:
                sys.stdout.write(line)
            tail.append(line.rstrip())
            if (errors or "error" in line.lower()) and len(errors) < ERROR_CONTEXT_LINES:
                errors.append(line.rstrip())
    if process.returncode != 0:
        detail = "\n".join(errors or tail)
        raise DbtRunError(f"dbt {' '.join(arguments)} failed:\n{detail}")
