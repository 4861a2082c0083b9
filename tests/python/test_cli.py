"""The command line: arguments reach the functions, results and errors reach the user."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from propensity.cli import main
from propensity.generate import TABLES


def test_generate_writes_every_table_and_the_truth_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "raw"
    assert main(["generate", "--customers", "200", "--seed", "3", "--out", str(out)]) == 0
    assert {path.name for path in out.iterdir()} == set(TABLES)
    customers = duckdb.sql(
        f"select count(distinct customer_id) from read_parquet('{out}/customers/*.parquet') "
        "where customer_id <= 200"
    ).fetchall()[0][0]
    assert customers == 200
    assert (tmp_path / "truth" / "upsell_truth.parquet").is_file()
    printed = capsys.readouterr().out
    assert "generated 200 customers (seed 3" in printed
    assert str(out) in printed


def test_generate_rejects_an_end_date_that_is_not_a_month_start(tmp_path: Path, capsys) -> None:
    arguments = ["generate", "--customers", "50", "--seed", "1", "--out", str(tmp_path / "raw")]
    assert main([*arguments, "--end-date", "2026-11-15"]) == 1
    assert "propensity generate:" in capsys.readouterr().err


def test_unknown_format_is_refused_by_the_parser(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--campaign", "x", "--format", "xlsx", "--out", str(tmp_path / "a")])
    assert exit_info.value.code == 2
