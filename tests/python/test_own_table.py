"""Bring your own features: `propensity train-table` on flat Parquet, CSV and DuckDB tables.

A seeded table with a planted signal (numbers with NaN, a text category with nulls and a rare
value, a nullable boolean, integer codes, a date, a constant and an all-null column) is
trained on end to end; the SQL the warehouse scores with must equal onnxruntime on the
Python-encoded rows, row by row, including unseen categories and nulls.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from propensity.cli import main
from propensity.models import list_versions
from propensity.own_table import _check_task
from propensity.report import write_reports
from propensity.table_encoding import (
    PERIOD_COLUMN,
    Candidate,
    TableEncoding,
    binary_label,
    plan_columns,
    pseudo_period,
)
from propensity.table_scoring import OwnTableError, load_version, python_scores, scoring_query
from propensity.table_source import TableSource

ROWS = 3000
SEED = 11
TOLERANCE = 1e-5


def flat_table(rows: int, seed: int) -> pd.DataFrame:
    """Leads with a label that depends on income, plan, membership and days since login."""
    rng = np.random.default_rng(seed)
    signed_up_at = pd.Timestamp("2025-01-01") + pd.to_timedelta(
        rng.integers(0, 240 * 24, rows), unit="h"
    )
    income = rng.normal(50, 15, rows)
    income[rng.random(rows) < 0.1] = np.nan
    plan = rng.choice(["gold", "silver", "bronze"], rows, p=[0.25, 0.4, 0.35]).astype(object)
    plan[rng.random(rows) < 0.08] = None
    plan[rng.choice(rows, 10, replace=False)] = "platinum"  # rarer than the minimum count
    is_member = pd.array(rng.random(rows) < 0.4, dtype="boolean")
    is_member[rng.random(rows) < 0.05] = pd.NA
    days_since_login = rng.exponential(30, rows)
    logit = (
        -1.6
        + 0.08 * np.nan_to_num(income - 50)
        + 1.2 * (plan == "gold")
        - 0.8 * (plan == "bronze")
        + 0.9 * np.asarray(is_member.fillna(False), dtype=bool)
        - 0.03 * days_since_login
    )
    converted = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "lead_key": [f"L{number:05d}" for number in range(rows)],
            "signed_up_at": signed_up_at,
            "income": income,
            "visits": rng.poisson(3, rows),
            "noise": rng.normal(size=rows),
            "plan": plan,
            "is_member": is_member,
            "region_code": rng.integers(1, 5, rows),
            "constant_text": "x",
            "all_null": pd.Series([np.nan] * rows, dtype="float64"),
            "last_login_date": (signed_up_at - pd.to_timedelta(days_since_login, unit="D"))
            .normalize()
            .date,
            # Every 50th outcome is unknown yet: left out of training, still scored.
            "converted": np.where(
                np.arange(rows) % 50 == 0, None, np.where(converted, "yes", "no")
            ),
        }
    )


def new_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows to score: no label, unseen categories and a null in every input somewhere."""
    rows = frame.drop(columns="converted").head(400).copy()
    index = np.arange(len(rows))
    rows.loc[index % 7 == 0, "plan"] = "diamond"
    rows.loc[index % 7 == 1, "plan"] = None
    rows["region_code"] = rows["region_code"].where(index % 5 != 0, 9)
    rows["income"] = rows["income"].where(index % 6 != 0, np.nan)
    rows["is_member"] = rows["is_member"].where(index % 9 != 0, pd.NA)
    rows["last_login_date"] = rows["last_login_date"].where(index % 4 != 0, None)
    rows["signed_up_at"] = rows["signed_up_at"].where(index % 11 != 0, pd.NaT)
    return rows


def run(arguments: list[str]) -> tuple[int, str]:
    """Run the command line; its exit code and what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(arguments)
    return code, out.getvalue()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One OpenMP thread: the boosted trees' 500 tiny iterations are far faster so here."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("own_table")
    frame = flat_table(ROWS, SEED)
    paths = {
        "root": root,
        "parquet": root / "leads.parquet",
        "csv": root / "leads.csv",
        "new": root / "new_leads.parquet",
        "warehouse": root / "warehouse" / "propensity.duckdb",
        "models": root / "models",
    }
    frame.to_parquet(paths["parquet"], index=False)
    frame.to_csv(paths["csv"], index=False)
    new_rows(frame).to_parquet(paths["new"], index=False)
    return paths


@pytest.fixture(scope="module")
def parquet_model(files) -> dict:
    """The Parquet input with an id and a time column, every model family."""
    code, printed = run(
        [
            "train-table",
            "--input",
            str(files["parquet"]),
            "--label",
            "converted",
            "--id",
            "lead_key",
            "--time",
            "signed_up_at",
            "--categorical",
            "region_code",
            "--baseline",
            "income_rule=income",
            "--warehouse",
            str(files["warehouse"]),
            "--model-dir",
            str(files["models"]),
            "--seed",
            "5",
        ]
    )
    assert code == 0, printed
    return {"printed": printed, "version": "leads-v1", **registry_row(files, "leads-v1")}


@pytest.fixture(scope="module")
def csv_model(files, parquet_model) -> dict:
    """The CSV input with neither id nor time: row numbers and hash pseudo-periods."""
    code, printed = run(
        [
            "train-table",
            "--input",
            str(files["csv"]),
            "--label",
            "converted",
            "--task",
            "leads_csv",
            "--families",
            "logistic_regression",
            "--pseudo-periods",
            "4",
            "--warehouse",
            str(files["warehouse"]),
            "--model-dir",
            str(files["models"]),
            "--seed",
            "7",
        ]
    )
    assert code == 0, printed
    return {"printed": printed, "version": "leads_csv-v1", **registry_row(files, "leads_csv-v1")}


@pytest.fixture(scope="module")
def table_model(files, csv_model) -> dict:
    """A DuckDB table in the warehouse, boolean label, trees only, weekly periods."""
    with duckdb.connect(str(files["warehouse"])) as connection:
        connection.execute("create schema if not exists crm")
        connection.execute(
            "create or replace table crm.leads as select * replace (converted = 'yes' as "
            f"converted) from read_parquet('{files['parquet']}')"
        )
    code, printed = run(
        [
            "train-table",
            "--table",
            "crm.leads",
            "--label",
            "converted",
            "--id",
            "lead_key",
            "--time",
            "signed_up_at",
            "--period",
            "week",
            "--folds",
            "3",
            "--families",
            "hist_gradient_boosting",
            "--exclude",
            "noise",
            "--warehouse",
            str(files["warehouse"]),
            "--model-dir",
            str(files["models"]),
        ]
    )
    assert code == 0, printed
    return {"printed": printed, "version": "leads-v2", **registry_row(files, "leads-v2")}


def registry_row(files, version: str) -> dict:
    with duckdb.connect(str(files["warehouse"]), read_only=True) as connection:
        frame = connection.execute(
            "select * from ml.model_registry where model_version = ?", [version]
        ).df()
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def sql_and_python_scores(warehouse: Path, version: str, source: TableSource | None = None):
    """Every row's SQL score (the stored SQL over the raw table) next to onnxruntime's on the
    Python-encoded matrix, joined on the keys."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        stored = load_version(connection, version)
        expected = python_scores(connection, stored, source)
        actual = connection.execute(
            f"select * from ({scoring_query(stored, source)}) as scored"
        ).df()
    keys = list(stored.encoding.key_columns)
    joined = actual[[*keys, "score"]].merge(
        expected, on=keys, how="outer", suffixes=("_sql", "_onnx"), validate="one_to_one"
    )
    return joined


# --------------------------------------------------------------------------------------------
# The model learns the planted signal, out of time
# --------------------------------------------------------------------------------------------


def test_model_beats_random_out_of_time_on_the_planted_signal(parquet_model) -> None:
    evaluation = json.loads(parquet_model["evaluation_json"])
    assert evaluation["split"]["kind"] == "time" and evaluation["split"]["out_of_time"]
    overall = evaluation["overall"]
    chosen = overall[evaluation["chosen"]]
    assert chosen["pr_auc"] > overall["random"]["pr_auc"] + 0.15
    assert chosen["roc_auc"] > 0.75
    assert "income_rule" in evaluation["baselines"]
    # The backtest tests the newest months, each with models fitted on earlier months only.
    folds = evaluation["folds"]
    assert [fold["test_snapshot"] for fold in folds] == [
        "2025-05-01",
        "2025-06-01",
        "2025-07-01",
        "2025-08-01",
    ]
    for fold in folds:
        assert fold["train_snapshot_start"] == "2025-01-01"
        assert fold["train_snapshot_end"] < fold["test_snapshot"]
    assert "out of time" in parquet_model["printed"]
    counts = f"{ROWS:,} rows; {ROWS - 60:,} with a label and a time (signed_up_at) (60 left"
    assert counts in parquet_model["printed"]
    own_table = evaluation["own_table"]
    assert own_table["rows"] == {"total": ROWS, "labelled": ROWS - 60, "trained_on": ROWS - 60}


def test_every_column_decision_is_printed_and_stored(parquet_model, files) -> None:
    own_table = json.loads(parquet_model["evaluation_json"])["own_table"]
    encoding = TableEncoding.from_dict(own_table["encoding"])
    plans = {plan.column: plan for plan in encoding.columns}
    assert set(plans) == set(flat_table(10, 1).columns) - {"lead_key", "signed_up_at", "converted"}
    assert plans["income"].kind == "numeric" and plans["income"].features == ("income",)
    assert "missing" in plans["income"].note
    assert plans["is_member"].kind == "boolean"
    assert plans["plan"].kind == "categorical"
    assert set(plans["plan"].categories) == {"gold", "silver", "bronze"}  # not the rare one
    assert plans["plan"].features[-2:] == ("plan__other", "plan__missing")
    assert plans["region_code"].kind == "categorical"  # named with --categorical
    assert set(plans["region_code"].categories) == {"1", "2", "3", "4"}
    assert plans["last_login_date"].kind == "days_before"
    assert plans["last_login_date"].features == ("last_login_date__days_before",)
    assert plans["constant_text"].kind == "dropped" and "constant" in plans["constant_text"].note
    assert plans["all_null"].kind == "dropped" and "null" in plans["all_null"].note
    features = json.loads(parquet_model["feature_columns"])
    assert features == list(encoding.feature_columns)
    assert not {"lead_key", "signed_up_at", "converted", PERIOD_COLUMN} & set(features)
    assert own_table["label"] == {"column": "converted", "type": "varchar", "positive": "yes"}
    for plan in encoding.columns:
        assert plan.describe() in parquet_model["printed"]
    sidecar = files["models"] / "leads" / "leads-v1.table.json"
    assert json.loads(sidecar.read_text())["encoding"] == own_table["encoding"]


# --------------------------------------------------------------------------------------------
# Parity: the SQL over the raw table equals onnxruntime on the Python-encoded rows
# --------------------------------------------------------------------------------------------


def test_sql_encoding_equals_the_python_encoding_bit_for_bit(parquet_model, files) -> None:
    source = TableSource.from_path(files["new"])
    with duckdb.connect(str(files["warehouse"]), read_only=True) as connection:
        stored = load_version(connection, parquet_model["version"])
        encoding = stored.encoding
        relation = source.relation_sql()
        keys = ", ".join(f'"{key}"' for key in encoding.key_columns)
        in_sql = connection.execute(f"{encoding.select_sql(relation)} order by {keys}").df()
        raw = connection.execute(f"{encoding.read_sql(relation)} order by {keys}").df()
    in_python = encoding.encode(raw)
    features = list(encoding.feature_columns)
    np.testing.assert_array_equal(
        in_sql[features].to_numpy(dtype=float, na_value=np.nan), in_python.to_numpy()
    )
    # Unseen and missing categories land in other and missing, never in a kept value.
    diamond = (raw["plan"] == "diamond").to_numpy()
    assert diamond.sum() > 20
    assert (in_python.loc[diamond, "plan__other"] == 1).all()
    assert (
        (in_python.loc[diamond, ["plan__gold", "plan__silver", "plan__bronze"]] == 0)
        .to_numpy()
        .all()
    )
    missing = raw["plan"].isna().to_numpy()
    assert missing.sum() > 20 and (in_python.loc[missing, "plan__missing"] == 1).all()
    assert (in_python.loc[missing, "plan__other"] == 0).all()
    assert (in_python.loc[(raw["region_code"] == "9").to_numpy(), "region_code__other"] == 1).all()
    # Days before the row's time: missing when either date is.
    days = in_python["last_login_date__days_before"]
    assert days.isna().sum() >= len(raw) // 4
    assert (days.dropna() >= 0).all()


@pytest.mark.parametrize("model", ["parquet_model", "csv_model", "table_model"])
def test_sql_scores_equal_onnxruntime_on_every_training_row(model, files, request) -> None:
    version = request.getfixturevalue(model)["version"]
    joined = sql_and_python_scores(files["warehouse"], version)
    assert len(joined) == ROWS
    assert joined[["score_sql", "score_onnx"]].notna().to_numpy().all()
    difference = (joined["score_sql"] - joined["score_onnx"]).abs()
    print(f"{version}: max |SQL - onnxruntime| over {len(joined)} rows {difference.max():.2e}")
    assert difference.max() <= TOLERANCE


@pytest.mark.parametrize("model", ["parquet_model", "table_model"])
def test_score_table_on_new_rows_with_unseen_categories_and_nulls(model, files, request) -> None:
    version = request.getfixturevalue(model)["version"]
    table = f"ml.new_scores_{version.replace('-', '_')}"
    arguments = ["score-table", "--version", version, "--input", str(files["new"])]
    code, printed = run(
        [
            *arguments,
            "--warehouse",
            str(files["warehouse"]),
            "--into",
            table,
            "--check-parity",
            "400",
        ]
    )
    assert code == 0, printed
    assert f"scored 400 rows into {table}" in printed and ": ok" in printed
    source = TableSource.from_path(files["new"])
    joined = sql_and_python_scores(files["warehouse"], version, source)
    assert len(joined) == 400
    with duckdb.connect(str(files["warehouse"]), read_only=True) as connection:
        written = connection.execute(f"select * from {table}").df()
    assert list(written.columns) == ["lead_key", "signed_up_at", "score", "model_version"]
    assert set(written["model_version"]) == {version}
    merged = written.merge(joined, on=["lead_key", "signed_up_at"], validate="one_to_one")
    assert len(merged) == 400
    np.testing.assert_allclose(merged["score"], merged["score_onnx"], atol=TOLERANCE, rtol=0)


# --------------------------------------------------------------------------------------------
# Registry, scores, report
# --------------------------------------------------------------------------------------------


def test_versions_are_registered_and_continue(parquet_model, csv_model, table_model, files):
    assert parquet_model["task"] == "leads" and table_model["task"] == "leads"
    assert csv_model["task"] == "leads_csv"
    table_features = json.loads(table_model["feature_columns"])
    assert "noise" not in table_features and "income" in table_features  # --exclude noise
    assert table_model["model_family"] == "hist_gradient_boosting"
    versions = {v.model_version: v for v in list_versions(files["warehouse"])}
    assert set(versions) == {"leads-v1", "leads-v2", "leads_csv-v1"}
    assert versions["leads-v2"].is_in_use and not versions["leads-v1"].is_in_use
    for row in (parquet_model, csv_model, table_model):
        assert "__propensity_features__" in row["scoring_sql"]
        assert Path(row["onnx_path"]).is_file() and Path(row["predictions_path"]).is_file()
    with duckdb.connect(str(files["warehouse"]), read_only=True) as connection:
        assert _check_task(connection, "leads") == 3
        scores = connection.execute(
            "select lead_key, score, model_version from ml.leads_scores"
        ).df()
    # The newest run wrote the task's scores: every row of the table, unlabelled ones too.
    assert len(scores) == ROWS and scores["lead_key"].is_unique
    assert set(scores["model_version"]) == {"leads-v2"}
    assert scores["score"].between(0, 1).all()


def test_a_task_that_dbt_trains_is_refused(tmp_path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        connection.execute("create schema ml")
        connection.execute(
            "create table ml.model_registry as select 'upsell-v1' as model_version, "
            "'upsell' as task, '{\"chosen\": \"x\"}' as evaluation_json"
        )
        with pytest.raises(OwnTableError, match="trained by dbt"):
            _check_task(connection, "upsell")
        assert _check_task(connection, "leads") == 1
    with pytest.raises(OwnTableError, match="lowercase"):
        _check_task(None, "Leads-2")


def test_the_report_renders_for_an_own_table_version(parquet_model, csv_model, files, tmp_path):
    out = tmp_path / "reports"
    code, printed = run(
        [
            "report",
            "--warehouse",
            str(files["warehouse"]),
            "--version",
            "leads-v1",
            "--out",
            str(out),
        ]
    )
    assert code == 0, printed
    html = (out / "leads-v1.html").read_text(encoding="utf-8")
    assert "Model card: leads-v1" in html
    assert "last_login_date__days_before" in html and "plan__other" in html
    assert "out of time." in html and "NOT out of time" not in html
    summaries = write_reports(files["warehouse"], out, version="leads_csv-v1")
    assert not summaries[0].out_of_time
    html = summaries[0].path.read_text(encoding="utf-8")
    assert "The split is NOT out of time" in html
    assert "class='flag'>No time column" in html


# --------------------------------------------------------------------------------------------
# Without a time column: seeded pseudo-periods
# --------------------------------------------------------------------------------------------


def test_without_time_rows_get_seeded_pseudo_periods(csv_model, files) -> None:
    evaluation = json.loads(csv_model["evaluation_json"])
    assert evaluation["split"]["kind"] == "hash" and not evaluation["split"]["out_of_time"]
    assert "NOT out of time" in csv_model["printed"]
    encoding = TableEncoding.from_dict(evaluation["own_table"]["encoding"])
    assert encoding.key_columns == ("row_number",) and encoding.seed == 7
    plans = {plan.column: plan for plan in encoding.columns}
    assert plans["lead_key"].kind == "dropped"  # every value unique: nothing to encode
    assert plans["last_login_date"].kind == "dropped"  # a date without --time
    assert plans["region_code"].kind == "numeric"  # not named --categorical this time

    # The split the backtest used is md5('<row number>:<seed>') modulo 4, as documented.
    predictions = pd.read_parquet(csv_model["predictions_path"])
    expected = [
        pd.Timestamp("2000-01-01") + pd.Timedelta(days=pseudo_period(str(n), 7, 4) - 1)
        for n in predictions["row_number"]
    ]
    assert (predictions[PERIOD_COLUMN] == pd.Series(expected)).all()

    def periods(seed: int) -> np.ndarray:
        stored = TableEncoding.from_dict({**evaluation["own_table"]["encoding"], "seed": seed})
        relation = TableSource.from_path(files["csv"]).relation_sql()
        query = f"{stored.read_sql(relation)} order by row_number"
        return duckdb.sql(query).df()[PERIOD_COLUMN].to_numpy()

    same, again, other = periods(7), periods(7), periods(8)
    assert (same == again).all()
    assert (same != other).mean() > 0.5
    shares = pd.Series(same).value_counts(normalize=True)
    assert len(shares) == 4 and shares.between(0.2, 0.3).all()


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


def test_a_label_that_is_not_binary_is_refused_naming_the_values(files, tmp_path, capsys):
    frame = flat_table(300, 3)
    frame["outcome"] = np.where(np.arange(300) % 3 == 0, "maybe", frame["converted"])
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path, index=False)
    base = ["train-table", "--input", str(path), "--warehouse", str(tmp_path / "w.duckdb")]
    assert main([*base, "--label", "outcome"]) == 1
    error = capsys.readouterr().err
    assert "label column 'outcome' must be binary" in error
    assert "'maybe', 'no', 'yes'" in error
    assert main([*base, "--label", "visits"]) == 1
    assert "label column 'visits' must be binary" in capsys.readouterr().err
    assert main([*base, "--label", "nope"]) == 1
    assert "--label 'nope' is not a column" in capsys.readouterr().err
    assert not (tmp_path / "w.duckdb").exists()


def test_binary_labels_in_their_usual_shapes() -> None:
    labels, positive = binary_label(pd.Series(["Yes", "no", "Yes"]), "y", "text")
    assert labels.tolist() == [1, 0, 1] and positive == "Yes"
    labels, positive = binary_label(pd.Series([0, 1, 1]), "y", "numeric")
    assert labels.tolist() == [0, 1, 1] and positive == 1
    labels, _ = binary_label(pd.Series([True, False]), "y", "boolean")
    assert labels.tolist() == [1, 0]
    with pytest.raises(ValueError, match="--positive"):
        binary_label(pd.Series(["churned", "stayed"]), "status", "text")
    labels, _ = binary_label(pd.Series(["churned", "stayed"]), "status", "text", "churned")
    assert labels.tolist() == [1, 0]
    with pytest.raises(ValueError, match=r"found 2 distinct value\(s\): 1, 2"):
        binary_label(pd.Series([1, 2]), "y", "numeric")


def test_indicator_names_stay_unique_and_sql_matches_python_on_awkward_values() -> None:
    values = ["other"] * 30 + ["Gold"] * 30 + ["gold"] * 30 + ["O'Brien"] * 30 + [None] * 5
    frame = pd.DataFrame({"Plan Type": [*values, "rare"]})
    (plan,) = plan_columns(
        frame,
        [Candidate("Plan Type", "varchar", "categorical")],
        time_column=None,
        reserved=["row_number", PERIOD_COLUMN],
        min_category_rows=25,
        max_categories=20,
    )
    assert plan.categories == ("Gold", "O'Brien", "gold", "other")
    assert plan.features == (
        "Plan Type__gold",
        "Plan Type__o_brien",
        "Plan Type__gold_2",
        "Plan Type__other_2",  # the value "other"; the rare-and-unseen indicator keeps __other
        "Plan Type__other",
        "Plan Type__missing",
    )
    encoding = TableEncoding(None, None, "pseudo", 5, 1, (plan,))
    with duckdb.connect() as connection:
        connection.register("awkward", frame)
        in_sql = connection.execute(f"{encoding.select_sql('awkward')} order by row_number").df()
        raw = connection.execute(f"{encoding.read_sql('awkward')} order by row_number").df()
    in_python = encoding.encode(raw)
    np.testing.assert_array_equal(in_sql[list(plan.features)].to_numpy(), in_python.to_numpy())
    assert in_python.iloc[-1].to_dict() == {
        **dict.fromkeys(plan.features, 0.0),
        "Plan Type__other": 1.0,
    }
    assert in_python["Plan Type__missing"].sum() == 5
    assert in_python["Plan Type__other_2"].sum() == 30
