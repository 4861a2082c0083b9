"""One setting says where the sources live: Parquet (default), CSV files, warehouse tables."""

from __future__ import annotations

import duckdb
import pytest

from propensity.generate import TABLES

COMPARED = (
    "select * from quarantine.data_quality_summary order by all",
    "select * from marts.customer_feature_snapshots order by all",
    "select customer_id, campaign_id, decile, band, segment, next_best_action, experiment_group "
    "from audiences.campaign_audiences where campaign_id in "
    "(select campaign_id from config.campaigns where task = 'upsell') order by all",
)


@pytest.mark.parametrize("location", ["csv", "warehouse_tables"])
def test_csv_files_and_warehouse_tables_build_the_same_audiences(built, dbt, tmp_path, location):
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create schema raw")
        for table in TABLES:
            rows = f"select * from read_parquet('{built.raw_dir}/{table}/*.parquet')"
            if location == "csv":
                connection.execute(f"copy ({rows}) to '{tmp_path / table}.csv' (header)")
            else:
                connection.execute(f"create table raw.{table} as {rows}")
    raw_location = {
        "csv": f"read_csv('{tmp_path}/{{name}}.csv', header = true)",
        "warehouse_tables": "(select * from raw.{name})",
    }[location]
    dbt.run(
        ["build"],
        warehouse=warehouse,
        raw_dir=None,
        variables={
            "model_dir": str(tmp_path / "models"),
            "raw_location": raw_location,
            # Only up-sell is trained (and compared): the locations, not the tasks, differ.
            "train_tasks": ["upsell"],
        },
    )
    for sql in COMPARED:
        expected = dbt.rows(built.warehouse, sql)
        assert len(expected) > 0
        assert dbt.rows(warehouse, sql) == expected, sql
