"""The registry from the command line: list, compare, promote, roll back; scoring follows."""

from __future__ import annotations

import pytest

from propensity.cli import main
from propensity.models import RegistryError, compare_versions, list_versions, promote

SCORED_VERSIONS_SQL = "select distinct model_version from ml.upsell_scores"
AUDIENCE_VERSIONS_SQL = "select distinct model_version from audiences.campaign_audiences"


@pytest.fixture
def two_versions(built, dbt, tmp_path):
    """A copy of the built warehouse with upsell-v2 retrained beside upsell-v1."""
    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "models.duckdb")
    dbt.run(
        ["build", "--select", "model_registry+"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={"model_dir": str(tmp_path / "models"), "retrain": True},
    )
    return warehouse


def rescore(dbt, built, warehouse, tmp_path) -> None:
    dbt.run(
        ["build", "--select", "upsell_scores+"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={"model_dir": str(tmp_path / "models")},
    )


def test_promote_and_rollback_choose_the_version_that_scores(
    built, dbt, tmp_path, two_versions, capsys
):
    warehouse = two_versions
    assert [(v.model_version, v.is_in_use) for v in list_versions(warehouse)] == [
        ("upsell-v1", False),
        ("upsell-v2", True),
    ]
    assert dbt.rows(warehouse, SCORED_VERSIONS_SQL) == [("upsell-v2",)]

    assert main(["models", "promote", "upsell-v1", "--warehouse", str(warehouse)]) == 0
    assert "upsell: upsell-v1 promoted" in capsys.readouterr().out
    assert [v.model_version for v in list_versions(warehouse) if v.is_in_use] == ["upsell-v1"]
    rescore(dbt, built, warehouse, tmp_path)
    assert dbt.rows(warehouse, SCORED_VERSIONS_SQL) == [("upsell-v1",)]
    assert dbt.rows(warehouse, AUDIENCE_VERSIONS_SQL) == [("upsell-v1",)]

    assert main(["models", "rollback", "--task", "upsell", "--warehouse", str(warehouse)]) == 0
    assert "rolled back to upsell-v2" in capsys.readouterr().out
    rescore(dbt, built, warehouse, tmp_path)
    assert dbt.rows(warehouse, SCORED_VERSIONS_SQL) == [("upsell-v2",)]
    log = dbt.rows(
        warehouse,
        "select promotion_id, model_version, action from ml.model_promotions order by 1",
    )
    assert log == [(1, "upsell-v1", "promote"), (2, "upsell-v2", "rollback")]


def test_list_and_compare_print_the_registry(built, two_versions, capsys):
    assert main(["models", "list", "--warehouse", str(two_versions)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("  upsell-v1") and lines[1].startswith("* upsell-v2")
    table = compare_versions(two_versions, "upsell-v1", "upsell-v2")
    assert "validation pr_auc" in table and "validation roc_auc" in table
    # Same data, same seed: the retrained version is the same model, so nothing differs.
    assert "+0.0000" in table and "features only in upsell-v1: none" in table


def test_unknown_versions_and_lone_versions_are_refused(built, dbt, tmp_path, capsys):
    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "one.duckdb")
    with pytest.raises(RegistryError, match="no model version 'upsell-v9'; registered: upsell-v1"):
        promote(warehouse, "upsell-v9")
    assert main(["models", "rollback", "--task", "upsell", "--warehouse", str(warehouse)]) == 1
    assert "upsell-v1 is the only version" in capsys.readouterr().err
