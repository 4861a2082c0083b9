"""Model quality on the session's demo build: the registry's evaluation against values
recomputed from its out-of-time predictions, baselines on identical rows, and a model that
is forced to be calibrated still scoring in SQL exactly as onnxruntime does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from propensity.calibration import PlattCalibration

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def registered(built, dbt) -> pd.Series:
    (row,) = [
        r
        for _, r in dbt.query(
            built.warehouse, "select * from ml.model_registry where task = 'upsell'"
        ).iterrows()
    ]
    return row


def test_backtest_folds_are_the_newest_labelled_snapshots(built, dbt, registered):
    evaluation = json.loads(registered["evaluation_json"])
    snapshots = [
        str(row[0])
        for row in dbt.rows(
            built.warehouse,
            "select distinct snapshot_date from ml.upsell_training_set order by 1 desc limit 4",
        )
    ]
    folds = evaluation["folds"]
    assert [fold["test_snapshot"] for fold in folds] == sorted(snapshots)
    assert folds[-1]["test_snapshot"] == str(registered["validation_snapshot"].date())
    for fold in folds:
        rows = dbt.scalar(
            built.warehouse,
            "select count(*) from ml.upsell_training_set where snapshot_date < ?",
            [fold["test_snapshot"]],
        )
        assert fold["train_rows"] == rows
        assert fold["train_snapshot_end"] < fold["test_snapshot"]


def test_every_scorer_is_measured_on_identical_rows(built, dbt, registered):
    evaluation = json.loads(registered["evaluation_json"])
    predictions = pd.read_parquet(registered["predictions_path"])
    labels = dbt.query(
        built.warehouse,
        "select customer_id, snapshot_date, has_upgraded from ml.upsell_training_set "
        "where snapshot_date >= ?",
        [evaluation["folds"][0]["test_snapshot"]],
    )
    merged = predictions.merge(labels, on=["customer_id", "snapshot_date"], validate="1:1")
    assert len(merged) == len(predictions) == len(labels)
    assert (merged["label"] == merged["has_upgraded"].astype(int)).all()
    scorers = {"random", "engagement", "recency", "logistic_regression", "hist_gradient_boosting"}
    assert set(evaluation["overall"]) == scorers
    for name, metrics in evaluation["overall"].items():
        scores = predictions[f"score__{name}"]
        assert scores.notna().all(), name
        assert metrics["rows"] == len(predictions)
        assert metrics["roc_auc"] == pytest.approx(roc_auc_score(predictions["label"], scores))
        assert metrics["pr_auc"] == pytest.approx(
            average_precision_score(predictions["label"], scores)
        )


def test_the_demo_model_beats_random_and_its_top_decile_lifts(registered):
    evaluation = json.loads(registered["evaluation_json"])
    chosen = evaluation["chosen"]
    assert chosen == registered["model_family"]
    assert evaluation["deciles"][0]["lift"] > 1.5
    comparison = {row["scorer"]: row for row in evaluation["comparison"]}
    assert comparison["random"]["model_beats_it"]
    assert evaluation["overall"][chosen]["roc_auc"] > evaluation["overall"]["random"]["roc_auc"]
    # The registered model's validation metrics are those of the newest fold.
    metrics = json.loads(registered["metrics_json"])
    assert registered["validation_roc_auc"] == metrics["model"]["roc_auc"]
    newest = evaluation["folds"][-1]["metrics"][chosen]
    assert metrics[chosen]["roc_auc"] == pytest.approx(newest["roc_auc"])


def onnx_scores(path: Path, features: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"features": features})[1][:, 1].astype(np.float64)


def test_a_calibrated_model_scores_in_sql_as_onnxruntime_does(built, dbt, tmp_path):
    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "calibrated.duckdb")
    dbt.run(
        # Only what the test reads: the registry (retraining up-sell) and the up-sell scores.
        ["build", "--select", "model_registry", "upsell_scores"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={
            "model_dir": str(tmp_path / "models"),
            "retrain": ["upsell"],
            "calibration": "sigmoid",
        },
    )
    row = dbt.query(warehouse, "select * from ml.model_registry where model_version = 'upsell-v2'")
    row = row.iloc[0]
    assert row["calibration"] == "platt"
    evaluation = json.loads(row["evaluation_json"])
    calibration = PlattCalibration(
        evaluation["calibration"]["slope"], evaluation["calibration"]["intercept"]
    )
    columns = json.loads(row["feature_columns"])
    scores = dbt.query(
        warehouse,
        "select scores.customer_id, scores.score, "
        + ", ".join(f'cast(features."{c}" as double) as "{c}"' for c in columns)
        + " from ml.upsell_scores as scores inner join marts.customer_feature_snapshots as features"
        " using (customer_id, snapshot_date) order by scores.customer_id",
    )
    assert len(scores) > 500
    matrix = scores[columns].to_numpy(dtype=np.float64, na_value=np.nan).astype(np.float32)
    expected = onnx_scores(Path(row["onnx_path"]), matrix)
    assert np.abs(expected - scores["score"].to_numpy()).max() <= TOLERANCE
    # On the validation rows, the SQL scores equal what training computed with sklearn and
    # the Platt map (the predictions file), so the calibrated metrics describe this model.
    sql = row["scoring_sql"].replace(
        "__propensity_features__",
        "(select * from marts.customer_feature_snapshots where snapshot_date = "
        f"'{row['validation_snapshot'].date()}')",
    )
    validation = dbt.query(warehouse, f"select customer_id, score as sql_score from ({sql}) as s")
    predictions = pd.read_parquet(row["predictions_path"])
    predictions = predictions[predictions["registered_score"].notna()]
    merged = predictions.merge(validation, on="customer_id", validate="1:1")
    assert len(merged) == len(predictions) == row["validation_rows"]
    assert np.abs(merged["registered_score"] - merged["sql_score"]).max() <= TOLERANCE
    assert merged["sql_score"].mean() == pytest.approx(
        evaluation["calibration"]["validation_after"]["mean_score"], abs=TOLERANCE
    )
    raw = predictions["score"].to_numpy()
    np.testing.assert_allclose(calibration.apply(raw), predictions["registered_score"], atol=1e-12)
