"""The predicted-value tasks (value_90d, value_365d) on the session's built warehouse: labels
recomputed from the clean marts, SQL scores equal to onnxruntime and onnxruntime equal to
scikit-learn, reasons that add up to the log of the amount, monitoring with amounts, the
registry, the CLI and the model card."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd
import pytest

from propensity.demo import describe_warehouse
from propensity.evaluate_regression import regression_metrics, revenue_share_at
from propensity.report import describe_report, write_reports
from propensity.report_regression import label, ordered_comparisons, verdict_line

TASKS = {"value_90d": 90, "value_365d": 365}
RELATIVE_TOLERANCE = 1e-5
SAMPLED_CUSTOMERS = 300


def _cells(html: str, section: str, index: int = 0) -> list[list[str]]:
    """The rows of a section's index-th table, as cell texts."""
    part = html.split(f"<h2 id='{section}'>")[1].split("<h2")[0]
    table = part.split("<table>")[index + 1].split("</table>")[0]
    root = ET.fromstring(f"<table>{table}</table>")
    return [["".join(cell.itertext()) for cell in row] for row in root.iter("tr")]


@pytest.fixture(scope="module")
def registry(built, dbt) -> pd.DataFrame:
    frame = dbt.query(
        built.warehouse, "select * from ml.model_registry where task like 'value_%' order by task"
    )
    return frame.set_index("task")


@pytest.fixture(scope="module")
def completed_orders(built, dbt) -> pd.DataFrame:
    """Completed orders with their net value in ten-thousandths (exact integers), from the
    clean marts: item lines less returned lines."""
    orders = dbt.query(
        built.warehouse, "select order_id, customer_id, ordered_at, order_status from marts.orders"
    )
    lines = dbt.query(built.warehouse, "select order_id, line_amount from marts.order_lines")
    lines["units"] = (lines["line_amount"].astype(float) * 10_000).round().astype("int64")
    value = lines.groupby("order_id")["units"].sum()
    orders["value_units"] = orders["order_id"].map(value).fillna(0).astype("int64")
    assert set(orders["order_status"]) == {"completed", "refunded", "cancelled"}
    return orders[orders["order_status"] == "completed"]


@pytest.mark.parametrize("task", TASKS)
def test_labels_are_the_completed_revenue_in_their_window(built, dbt, completed_orders, task):
    days = TASKS[task]
    labels = dbt.query(built.warehouse, f"select * from intermediate.int_{task}_labels")
    features = dbt.query(
        built.warehouse, "select customer_id, snapshot_date from marts.customer_feature_snapshots"
    )
    as_of = dbt.scalar(
        built.warehouse, "select max(as_of_date) from intermediate.int_snapshot_dates"
    )
    # The population: every customer with a feature row (signed up before the snapshot).
    key = ["customer_id", "snapshot_date"]
    assert len(labels) == len(features)
    assert labels[key].sort_values(key).values.tolist() == features.sort_values(key).values.tolist()
    ends = labels["snapshot_date"] + pd.Timedelta(days=days)
    assert (labels["label_window_end_date"] == ends).all()
    assert (labels["is_label_complete"] == (ends <= pd.Timestamp(as_of))).all()
    assert labels.loc[~labels["is_label_complete"], f"revenue_{days}d"].isna().all()
    assert labels["is_label_complete"].sum() > 5_000

    rng = np.random.default_rng(days)
    customers = rng.choice(labels["customer_id"].unique(), SAMPLED_CUSTOMERS, replace=False)
    sample = labels[labels["customer_id"].isin(customers) & labels["is_label_complete"]]
    windows = sample[["customer_id", "snapshot_date", "label_window_end_date"]].merge(
        completed_orders, on="customer_id", how="left"
    )
    inside = (windows["ordered_at"] >= windows["snapshot_date"]) & (
        windows["ordered_at"] < windows["label_window_end_date"]
    )
    in_window = windows[inside].groupby(key)["value_units"].agg(["sum", "count"])
    expected = sample.set_index(key).join(in_window).fillna({"sum": 0, "count": 0})
    expected_units = expected["sum"].clip(lower=0).astype("int64")
    got_units = (expected[f"revenue_{days}d"] * 10_000).round().astype("int64")
    assert (got_units == expected_units).all(), expected[got_units != expected_units].head()
    assert (expected["completed_orders_count"] == expected["count"]).all()
    assert (expected_units > 0).mean() > 0.2
    # The training set holds exactly the complete rows.
    training = dbt.scalar(built.warehouse, f"select count(*) from ml.{task}_training_set")
    assert training == labels["is_label_complete"].sum()


def onnx_amounts(path: Path, features: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {session.get_inputs()[0].name: features})
    assert output.shape == (len(features), 1)
    return output[:, 0].astype(np.float64)


def feature_matrix(dbt, warehouse: Path, columns: list[str], where: str = "true") -> pd.DataFrame:
    casts = ", ".join(f'cast("{column}" as double) as "{column}"' for column in columns)
    return dbt.query(
        warehouse,
        f"select customer_id, snapshot_date, {casts} from marts.customer_feature_snapshots "
        f"where {where} order by customer_id, snapshot_date",
    )


def as_float32(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return frame[columns].to_numpy(dtype=np.float64, na_value=np.nan).astype(np.float32)


@pytest.mark.parametrize("task", TASKS)
def test_sql_scores_equal_onnxruntime_and_onnxruntime_equals_sklearn(built, dbt, registry, task):
    row = registry.loc[task]
    columns = json.loads(row["feature_columns"])
    scores = dbt.query(
        built.warehouse, f"select * from ml.{task}_scores order by customer_id, snapshot_date"
    )
    assert set(scores["model_version"]) == {row["model_version"]}
    as_of = dbt.scalar(
        built.warehouse,
        "select snapshot_date from intermediate.int_snapshot_dates where is_as_of_snapshot",
    )
    # Every customer signed up before the as-of snapshot is scored, once.
    features = feature_matrix(dbt, built.warehouse, columns, f"snapshot_date = '{as_of}'")
    assert scores["customer_id"].tolist() == features["customer_id"].tolist()
    matrix = as_float32(features, columns)
    assert np.isnan(matrix).any(), "NULL features are part of the comparison"
    expected = onnx_amounts(Path(row["onnx_path"]), matrix)
    relative = np.abs(scores["score"].to_numpy() / expected - 1)
    print(
        f"{task}: max relative |SQL - onnxruntime| over {len(scores)} scores {relative.max():.1e}"
    )
    assert relative.max() <= RELATIVE_TOLERANCE
    assert (scores["score"] > 0).all()

    # The registered SQL on every snapshot's rows (many more NULL patterns).
    sql = row["scoring_sql"].replace(
        "__propensity_features__", "(select * from marts.customer_feature_snapshots)"
    )
    every = dbt.query(
        built.warehouse,
        f"select * from ({sql}) as scored order by customer_id, snapshot_date",
    )
    all_features = feature_matrix(dbt, built.warehouse, columns)
    assert len(every) == len(all_features) > 30_000
    expected_all = onnx_amounts(Path(row["onnx_path"]), as_float32(all_features, columns))
    assert np.max(np.abs(every["score"].to_numpy() / expected_all - 1)) <= RELATIVE_TOLERANCE

    # scikit-learn's predictions of the validation rows (the predictions file) equal the ONNX
    # model's, exp link included.
    predictions = pd.read_parquet(row["predictions_path"])
    newest = predictions[predictions["fold"] == predictions["fold"].max()]
    validation = feature_matrix(
        dbt, built.warehouse, columns, f"snapshot_date = '{row['validation_snapshot']:%Y-%m-%d}'"
    ).merge(newest[["customer_id", "snapshot_date", "registered_score"]], validate="1:1")
    assert len(validation) == row["validation_rows"]
    onnx_validation = onnx_amounts(Path(row["onnx_path"]), as_float32(validation, columns))
    sklearn_validation = validation["registered_score"].to_numpy()
    assert np.max(np.abs(onnx_validation / sklearn_validation - 1)) <= RELATIVE_TOLERANCE


@pytest.mark.parametrize("task", TASKS)
def test_registry_row_of_a_value_model(built, registry, task):
    row = registry.loc[task]
    assert row["model_version"] == f"{task}-v1"
    assert row["model_family"] in ("poisson_regression", "poisson_gradient_boosting")
    assert pd.isna(row["validation_roc_auc"]) and pd.isna(row["validation_pr_auc"])
    assert row["calibration"] == "none"
    assert 0 < row["validation_positives"] < row["validation_rows"]
    evaluation = json.loads(row["evaluation_json"])
    assert evaluation["objective"] == "regression" and evaluation["horizon_days"] == TASKS[task]
    assert evaluation["baselines"] == ["rfm", "run_rate"]
    selection = evaluation["selection"]["mean_fold"]
    assert row["model_family"] == min(selection, key=selection.get)
    overall = evaluation["overall"]
    chosen = overall[row["model_family"]]
    # On the demo data the model ranks revenue far better than either rule, and predicts it
    # better than the run rate.
    assert chosen["gini"] > overall["rfm"]["gini"] + 0.1
    assert chosen["gini"] > overall["run_rate"]["gini"] + 0.1
    assert chosen["rmse"] < overall["run_rate"]["rmse"]
    assert 0.8 < chosen["calibration_ratio"] < 1.25
    assert json.loads(row["metrics_json"])["model"]["rmse"] > 0


@pytest.mark.parametrize("task", TASKS)
def test_reasons_add_up_to_the_log_of_the_predicted_amount(built, dbt, registry, task):
    row = registry.loc[task]
    assert row["explanation_sql"]
    columns = json.loads(row["feature_columns"])
    sql = row["explanation_sql"].replace(
        "__propensity_features__",
        f"(select features.* from marts.customer_feature_snapshots as features "
        f"inner join ml.{task}_scores as scores using (customer_id, snapshot_date))",
    )
    explained = dbt.query(
        built.warehouse,
        f"select explained.*, scores.score from ({sql}) as explained "
        f"inner join ml.{task}_scores as scores using (customer_id, snapshot_date)",
    )
    total = row["explanation_bias"] + explained[[f"contribution__{c}" for c in columns]].sum(axis=1)
    np.testing.assert_allclose(total, np.log(explained["score"]), rtol=0, atol=1e-5)
    reasons = dbt.query(built.warehouse, "select * from ml.score_reasons where task = ?", [task])
    assert reasons["customer_id"].nunique() > 0.9 * len(explained)
    assert (reasons["contribution"] > 0).all()
    assert set(reasons["model_version"]) == {row["model_version"]}


def test_monitoring_keeps_amounts_and_declared_drift_thresholds(built, dbt):
    history = dbt.query(
        built.warehouse,
        "select task, objective, count(*) as scored_rows, min(score) as lowest, "
        "max(score) as highest from monitoring.score_history group by all order by task",
    ).set_index("task")
    for task in TASKS:
        assert history.loc[task, "objective"] == "regression"
        assert history.loc[task, "lowest"] > 0 and history.loc[task, "highest"] > 1
    drift = dbt.query(
        built.warehouse,
        "select task, max(psi) as psi, max(psi_warn) as psi_warn, max(psi_fail) as psi_fail, "
        "count(*) as features from monitoring.feature_drift group by all",
    ).set_index("task")
    assert drift.loc["value_365d", "psi_fail"] == 0.5
    assert drift.loc["value_90d", "psi_fail"] == drift.loc["upsell", "psi_fail"] == 0.25
    assert (drift["psi_warn"] == 0.1).all()
    assert (drift["psi"] < drift["psi_fail"]).all()
    realised = dbt.rows(
        built.warehouse, "select distinct task from monitoring.realised_performance"
    )
    # Realised performance is for probabilities: every classification task, no value task.
    tasks = {row[0] for row in realised}
    assert "upsell" in tasks and not tasks & {"value_90d", "value_365d"}


def test_model_card_of_a_value_version(built, dbt, registry, tmp_path):
    row = registry.loc["value_90d"]
    version = row["model_version"]
    (summary,) = write_reports(built.warehouse, tmp_path, version=version)
    html = summary.path.read_text(encoding="utf-8")
    evaluation = json.loads(row["evaluation_json"])
    assert f"Model card: {version}" in html
    assert "http" not in html.lower() and "<script" not in html.lower()
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) == 4  # revenue gains, deciles, importance, drift
    for svg in svgs:
        ET.fromstring(svg)

    # The baselines' and the model's pooled figures, recomputed from the predictions file.
    predictions = pd.read_parquet(row["predictions_path"])
    actual = predictions["label"].to_numpy()
    table = {cells[0].removesuffix(" (chosen)"): cells for cells in _cells(html, "metrics")[1:]}
    assert set(table) == {label(name) for name in evaluation["overall"]}
    for name, is_amount, kind in (
        ("rfm", False, "ranking rule"),
        ("run_rate", True, "amount rule"),
        (row["model_family"], True, "model"),
    ):
        metrics = regression_metrics(
            actual, predictions[f"score__{name}"].to_numpy(), is_amount=is_amount
        )
        cells = table[label(name)]
        assert cells[1] == kind
        assert cells[2] == ("\u2014" if metrics["rmse"] is None else f"{metrics['rmse']:.2f}")
        assert cells[8] == f"{metrics['gini']:.4f}"
        assert cells[9] == f"{metrics['revenue_share_top_10']:.4f}"
        assert cells[10] == f"{metrics['revenue_share_top_20']:.4f}"
    run_rate = regression_metrics(actual, predictions["score__run_rate"].to_numpy(), is_amount=True)
    assert table["run rate"][6] == f"{run_rate['calibration_ratio']:.4f}"

    # The verdict names both rules in plain words, and the revenue gains table agrees.
    verdict = html.split("<h2 id='verdict'>")[1].split("<h2")[0]
    for entry in ordered_comparisons(evaluation):
        assert escape(verdict_line(entry, evaluation)) in verdict
    assert "The model beats the RFM score" in verdict and "the run rate" in verdict
    gains = {cells[0]: cells[1:] for cells in _cells(html, "gains")[1:]}
    rfm_top_10 = revenue_share_at(actual, predictions["score__rfm"].to_numpy(), 0.1)
    assert gains["RFM score"][2] == f"{rfm_top_10 * 100:.1f}%"

    # Deciles of the model: mean predicted and mean actual, 1 = the highest predictions.
    deciles = _cells(html, "deciles")[1:]
    ranked = predictions.sort_values("score", ascending=False, kind="stable")
    top = ranked.head(int(deciles[0][1].replace(",", "")))
    assert deciles[0][3] == f"{top['score'].mean():.2f}"
    assert deciles[0][4] == f"{top['label'].mean():.2f}"

    printed = describe_report(summary)
    assert f"RMSE {evaluation['overall'][row['model_family']]['rmse']:.2f}" in printed
    # The line names what the model does not beat (on this data the chosen family can lose to
    # another candidate on pooled Gini), but it always beats both baseline rules.
    comparisons = ordered_comparisons(evaluation)
    losing = [entry["scorer"] for entry in comparisons if not entry["model_beats_it"]]
    assert not {"rfm", "run_rate"} & set(losing)
    if losing:
        beaten = len(comparisons) - len(losing)
        assert f"beats {beaten} of {len(comparisons)} other scorers" in printed
        assert all(label(name) in printed for name in losing)
    else:
        assert f"beats all {len(comparisons)} other scorers" in printed


def test_demo_reports_and_summary_cover_the_value_tasks(built, tmp_path):
    """What `make demo` runs: every task's report with the truth file (which a value task
    cannot use, and says so), and the warehouse summary."""
    summaries = write_reports(built.warehouse, tmp_path, truth_file=built.truth_file)
    tasks = [summary.task for summary in summaries]
    assert tasks == sorted(tasks)
    assert set(tasks) == {
        "acquisition",
        "churn",
        "cross_sell",
        "upsell",
        "upsell_uplift",
        "value_365d",
        "value_90d",
    }
    value_page = (tmp_path / "value_365d-v1.html").read_text(encoding="utf-8")
    assert "holds probabilities; value_365d predicts amounts" in value_page
    described = describe_warehouse(built.warehouse)
    assert re.search(r"value_90d-v1 .* validation RMSE [\d.]+  Gini 0\.\d{4}", described)
