"""The registry from the command line: list, compare, promote, roll back; scoring follows."""

from __future__ import annotations

import json

import duckdb
import pytest

from propensity.cli import main
from propensity.models import RegistryError, compare_versions, list_versions, promote
from propensity.pipeline import DbtRunError

SCORED_VERSIONS_SQL = "select distinct model_version from ml.upsell_scores"
# The up-sell (propensity) campaigns' versions; the persuadables campaign scores with upsell_uplift.
AUDIENCE_VERSIONS_SQL = (
    "select distinct audiences.model_version from audiences.campaign_audiences as audiences "
    "inner join config.campaigns as campaigns using (campaign_id) where campaigns.task = 'upsell'"
)


@pytest.fixture(scope="module")
def retrained(built, dbt, tmp_path_factory):
    """A copy of the built warehouse with upsell-v2 retrained beside upsell-v1 (once per
    module: the tests below change only their own copies of it)."""
    root = tmp_path_factory.mktemp("retrained")
    warehouse = dbt.copy_warehouse(built.warehouse, root / "models.duckdb")
    dbt.run(
        ["build", "--select", "model_registry+"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={"model_dir": str(root / "models"), "retrain": ["upsell"]},
    )
    return warehouse


@pytest.fixture
def two_versions(retrained, dbt, tmp_path):
    """This test's own copy of the warehouse holding upsell-v1 and upsell-v2."""
    return dbt.copy_warehouse(retrained, tmp_path / "models.duckdb")


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
    assert [(v.model_version, v.is_in_use) for v in list_versions(warehouse, "upsell")] == [
        ("upsell-v1", False),
        ("upsell-v2", True),
    ]
    assert dbt.rows(warehouse, SCORED_VERSIONS_SQL) == [("upsell-v2",)]

    assert main(["models", "promote", "upsell-v1", "--warehouse", str(warehouse)]) == 0
    assert "upsell: upsell-v1 promoted" in capsys.readouterr().out
    in_use = [v.model_version for v in list_versions(warehouse, "upsell") if v.is_in_use]
    assert in_use == ["upsell-v1"]
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
    assert main(["models", "list", "--task", "upsell", "--warehouse", str(two_versions)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("  upsell-v1") and lines[1].startswith("* upsell-v2")
    assert "ROC-AUC 0." in lines[0] and "PR-AUC 0." in lines[0]
    table = compare_versions(two_versions, "upsell-v1", "upsell-v2")
    assert "validation pr_auc" in table and "validation roc_auc" in table
    # Same data, same seed: the retrained version is the same model, so nothing differs.
    assert "+0.0000" in table and "features only in upsell-v1: none" in table


def test_unknown_versions_and_lone_versions_are_refused(built, dbt, tmp_path, capsys):
    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "one.duckdb")
    with pytest.raises(
        RegistryError, match=r"no model version 'upsell-v9'; registered: .*upsell-v1"
    ):
        promote(warehouse, "upsell-v9")
    assert main(["models", "rollback", "--task", "upsell", "--warehouse", str(warehouse)]) == 1
    assert "upsell-v1 is the only version" in capsys.readouterr().err


def age_models(warehouse, days_by_version: dict[str, int]) -> None:
    with duckdb.connect(str(warehouse)) as connection:
        for version, days in days_by_version.items():
            connection.execute(
                "update ml.model_registry set trained_at = "
                "cast(current_timestamp as timestamp) - to_days(?) where model_version = ?",
                [days, version],
            )


def test_model_age_warns_past_60_days_and_fails_past_90(built, dbt, tmp_path, two_versions):
    warehouse = two_versions
    # Only the version in use counts: an old upsell-v1 beside a fresh upsell-v2 is fine.
    age_models(warehouse, {"upsell-v1": 400, "upsell-v2": 10})
    arguments = ["test", "--select", "model_registry"]
    variables = {"model_dir": str(tmp_path / "models")}
    work = dbt.run(arguments, warehouse=warehouse, raw_dir=built.raw_dir, variables=variables)
    assert "WARN=0 ERROR=0" in (work / "logs" / "dbt.log").read_text(errors="replace")

    age_models(warehouse, {"upsell-v2": 70})
    work = dbt.run(arguments, warehouse=warehouse, raw_dir=built.raw_dir, variables=variables)
    log = (work / "logs" / "dbt.log").read_text(errors="replace")
    assert "WARN 1 model_in_use_younger_than_warn_days" in log
    assert "WARN=1 ERROR=0" in log

    age_models(warehouse, {"upsell-v2": 100})
    with pytest.raises(DbtRunError, match="model_in_use_younger_than_fail_days"):
        dbt.run(arguments, warehouse=warehouse, raw_dir=built.raw_dir, variables=variables)

    # Promoting the old version puts it in use, and its age fails the build.
    age_models(warehouse, {"upsell-v2": 10})
    promote(warehouse, "upsell-v1")
    with pytest.raises(DbtRunError, match="model_in_use_younger_than_fail_days"):
        dbt.run(arguments, warehouse=warehouse, raw_dir=built.raw_dir, variables=variables)


def test_list_and_compare_show_regression_metrics_for_value_versions(built, dbt, capsys):
    """A regression version has no ROC-AUC: list shows its RMSE, Gini and top-10% revenue share
    from metrics_json, and compare its regression metrics."""
    warehouse = built.warehouse
    assert main(["models", "list", "--task", "value_90d", "--warehouse", str(warehouse)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    metrics = json.loads(
        dbt.scalar(
            warehouse,
            "select metrics_json from ml.model_registry where model_version = 'value_90d-v1'",
        )
    )["model"]
    assert line.startswith("* value_90d-v1")
    assert f"RMSE {metrics['rmse']:.2f}  Gini {metrics['gini']:.4f}" in line
    assert "ROC-AUC" not in line
    table = compare_versions(warehouse, "value_90d-v1", "value_365d-v1")
    assert "validation rmse" in table and "validation gini" in table
    assert "validation roc_auc" not in table
    assert f"{metrics['revenue_share_top_10']:.4f}" in table
