"""Documentation: every model has a yml entry with a description, and every column it builds
is documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def manifest(built, dbt, tmp_path_factory) -> dict:
    """The project's manifest, parsed with the session build's default vars."""
    work = tmp_path_factory.mktemp("docs")
    dbt.run(
        ["parse"], warehouse=built.warehouse, raw_dir=built.raw_dir, variables={}, work_dir=work
    )
    return json.loads(Path(work / "target" / "manifest.json").read_text())


def models(manifest: dict) -> list[dict]:
    """The project's model nodes, by name."""
    return sorted(
        (node for node in manifest["nodes"].values() if node["resource_type"] == "model"),
        key=lambda node: node["name"],
    )


def relation_columns(dbt, warehouse: Path) -> dict[tuple[str, str], list[str]]:
    """Every built relation's columns, by (schema, name), lower case, in order."""
    rows = dbt.rows(
        warehouse,
        "select lower(table_schema), lower(table_name), lower(column_name) "
        "from information_schema.columns order by table_schema, table_name, ordinal_position",
    )
    columns: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in rows:
        columns.setdefault((schema, table), []).append(column)
    return columns


def test_every_model_has_a_yml_entry_with_a_description(manifest):
    undocumented = [
        node["name"]
        for node in models(manifest)
        if node["patch_path"] is None or not node["description"].strip()
    ]
    assert len(models(manifest)) > 100
    assert undocumented == [], f"models without a yml entry or description: {undocumented}"


def documented_columns(node: dict, nodes: dict[str, dict]) -> set[str]:
    """The columns a model's yml describes, with those its marts parents describe: a training
    set carries every feature of its features model, documented there once."""
    own = {
        name.lower() for name, column in node["columns"].items() if column["description"].strip()
    }
    for parent_id in node["depends_on"]["nodes"]:
        parent = nodes.get(parent_id)
        if parent is not None and parent["original_file_path"].startswith("models/marts/"):
            own |= documented_columns(parent, nodes)
    return own


def test_every_column_of_the_marts_audiences_and_decisions_is_documented(manifest, built, dbt):
    nodes = {node["unique_id"]: node for node in models(manifest)}
    columns = relation_columns(dbt, built.warehouse)
    checked = [
        node
        for node in nodes.values()
        if node["original_file_path"].startswith(
            ("models/marts/", "models/audiences/", "models/decisions/")
        )
    ]
    undocumented = {}
    for node in checked:
        built_columns = columns.get((node["schema"].lower(), node["alias"].lower()))
        assert built_columns, f"{node['name']} is not built in {built.warehouse}"
        missing = [name for name in built_columns if name not in documented_columns(node, nodes)]
        if missing:
            undocumented[node["name"]] = missing
    assert len(checked) > 50
    assert undocumented == {}, f"columns without a description: {undocumented}"
