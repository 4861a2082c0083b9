"""Run the dbt project in-process (dbt's programmatic runner), from anywhere."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]


class DbtRunError(RuntimeError):
    """A dbt command failed."""


def dbt_environment(warehouse: Path, raw_dir: Path | None = None) -> dict[str, str]:
    """The environment variables the project's profile and sources read."""
    environment = {"PROPENSITY_WAREHOUSE": str(warehouse.resolve())}
    if raw_dir is not None:
        environment["PROPENSITY_RAW_DIR"] = str(raw_dir.resolve())
    return environment


def run_dbt(
    arguments: Sequence[str],
    *,
    warehouse: Path,
    raw_dir: Path | None = None,
    project_dir: Path = PROJECT_DIR,
) -> None:
    """Run one dbt command against a warehouse file; raise DbtRunError if it fails."""
    from dbt.cli.main import dbtRunner

    warehouse.parent.mkdir(parents=True, exist_ok=True)
    previous = {key: os.environ.get(key) for key in ("PROPENSITY_WAREHOUSE", "PROPENSITY_RAW_DIR")}
    os.environ.update(dbt_environment(warehouse, raw_dir))
    cwd = Path.cwd()
    try:
        os.chdir(project_dir)
        result = dbtRunner().invoke(
            [*arguments, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
        )
    finally:
        os.chdir(cwd)
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if not result.success:
        raise DbtRunError(f"dbt {' '.join(arguments)} failed: {result.exception or 'see log'}")
