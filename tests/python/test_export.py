"""Exports: the upload file holds exactly the campaign's treatment group, in rank order."""

from __future__ import annotations

import pandas as pd
import pytest

from propensity.cli import main
from propensity.export import ExportError, export_campaign
from propensity.pipeline import run_dbt

CAMPAIGN = "upsell_upgrade_nov"


@pytest.fixture(scope="module")
def audience(built, dbt) -> pd.DataFrame:
    """The campaign's audience rows with each customer's clean email, by audience_rank."""
    return dbt.query(
        built.warehouse,
        "select audiences.*, customers.email from audiences.campaign_audiences as audiences "
        "inner join marts.customers as customers using (customer_id) "
        "where campaign_id = ? order by audience_rank",
        [CAMPAIGN],
    )


def read_export(path, file_format: str) -> pd.DataFrame:
    return pd.read_csv(path) if file_format == "csv" else pd.read_parquet(path)


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_export_holds_the_treatment_rows_in_rank_order(built, audience, tmp_path, file_format):
    out = tmp_path / f"{CAMPAIGN}.{file_format}"
    summary = export_campaign(built.warehouse, CAMPAIGN, file_format, out)
    exported = read_export(out, file_format)

    treatment = audience[audience["experiment_group"] == "treatment"]
    control = audience[audience["experiment_group"] == "control"]
    assert len(treatment) > 50 and len(control) > 0
    assert summary.rows == len(exported) == len(treatment)
    assert summary.control_rows_left_out == len(control)
    assert set(exported["campaign_id"]) == {CAMPAIGN}
    assert set(exported["experiment_group"]) == {"treatment"}
    assert exported["customer_id"].tolist() == treatment["customer_id"].tolist()
    assert "email" in exported.columns
    assert exported["email"].notna().all()
    assert exported["email"].tolist() == treatment["email"].tolist()
    assert exported["score"].tolist() == treatment["score"].round(6).tolist()
    assert exported["score"].is_monotonic_decreasing


def test_export_with_control_holds_the_whole_audience(built, audience, tmp_path):
    out = tmp_path / "all.parquet"
    summary = export_campaign(built.warehouse, CAMPAIGN, "parquet", out, include_control=True)
    exported = pd.read_parquet(out)
    assert summary.rows == len(exported) == len(audience)
    assert summary.control_rows_left_out == 0
    assert exported["customer_id"].tolist() == audience["customer_id"].tolist()
    assert set(exported["experiment_group"]) == {"treatment", "control"}


def test_unknown_campaign_is_an_export_error_naming_the_active_campaigns(built, dbt, tmp_path):
    campaigns = [
        row[0]
        for row in dbt.rows(
            built.warehouse, "select campaign_id from config.campaigns where is_active"
        )
    ]
    out = tmp_path / "nothing.csv"
    with pytest.raises(ExportError) as error:
        export_campaign(built.warehouse, "no_such_campaign", "csv", out)
    message = str(error.value)
    assert "no_such_campaign" in message
    for campaign in campaigns:
        assert campaign in message
    assert not out.exists()


def test_a_past_campaign_is_refused_naming_the_active_ones(built, dbt, tmp_path):
    past = dbt.rows(built.warehouse, "select campaign_id from config.campaigns where not is_active")
    assert {row[0] for row in past} == {
        "upsell_upgrade_pilot",
        "upsell_upgrade_rollout",
        "retention_save_test",
    }
    out = tmp_path / "past.csv"
    with pytest.raises(ExportError) as error:
        export_campaign(built.warehouse, "upsell_upgrade_pilot", "csv", out)
    message = str(error.value)
    assert message.startswith("campaign 'upsell_upgrade_pilot' is not active")
    assert CAMPAIGN in message.split("active campaigns: ")[1]
    assert "retention_save_test" not in message
    assert not out.exists()


def test_cli_export_writes_the_file_and_exits_0(built, audience, tmp_path, capsys):
    out = tmp_path / "cli" / "audience.csv"
    code = main(
        [
            "export",
            "--campaign",
            CAMPAIGN,
            "--format",
            "csv",
            "--out",
            str(out),
            "--warehouse",
            str(built.warehouse),
        ]
    )
    assert code == 0
    exported = pd.read_csv(out)
    treatment = audience[audience["experiment_group"] == "treatment"]
    assert exported["customer_id"].tolist() == treatment["customer_id"].tolist()
    assert f"wrote {len(treatment):,} rows of {CAMPAIGN}" in capsys.readouterr().out


def test_cli_export_of_an_unknown_campaign_exits_1_and_says_why(built, tmp_path, capsys):
    code = main(
        [
            "export",
            "--campaign",
            "no_such_campaign",
            "--format",
            "parquet",
            "--out",
            str(tmp_path / "x.parquet"),
            "--warehouse",
            str(built.warehouse),
        ]
    )
    assert code == 1
    error = capsys.readouterr().err
    assert "unknown campaign 'no_such_campaign'" in error
    assert CAMPAIGN in error


def test_export_right_after_a_build_in_the_same_process(built, dbt, tmp_path):
    """The demo's sequence: run_dbt, then export_campaign, in one Python process."""
    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "demo.duckdb")
    run_dbt(
        [
            "build",
            "--select",
            "campaign_audiences",
            "--vars",
            f"{{model_dir: {tmp_path / 'models'}}}",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
    )
    summary = export_campaign(warehouse, CAMPAIGN, "csv", tmp_path / "demo.csv")
    assert summary.rows == len(pd.read_csv(tmp_path / "demo.csv")) > 0
