"""Training a regression task: the same rolling-origin backtest, the family with the lowest
mean out-of-time Poisson deviance, the ONNX file with its exp link, the SQL, the baselines on
the same rows and what the registry keeps."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest

from propensity.evaluate_regression import poisson_deviance, regression_metrics
from propensity.train import FEATURES_PLACEHOLDER, TrainingConfig, TrainingDataError, train_task

SNAPSHOTS = 6
PER_SNAPSHOT = 800
BASELINES = {
    "rfm": {
        "rule": "rfm",
        "recency": "days_since_last_order",
        "frequency": "orders_count",
        "monetary": "total_spend",
    },
    "run_rate": {
        "rule": "run_rate",
        "amount": "spend_3m",
        "amount_days": 91.3,
        "exposure": "tenure_days",
    },
}


def value_rows(seed: int = 8, window_days: int = 90) -> pd.DataFrame:
    """Customers whose next-90-day revenue follows recent spend and a signal (10% missing)."""
    rng = np.random.default_rng(seed)
    n = SNAPSHOTS * PER_SNAPSHOT
    signal = rng.normal(size=n)
    spend_3m = rng.gamma(1.0, 60.0, n) * (rng.random(n) < 0.6)
    mean = np.exp(2.5 + 0.6 * signal + 0.004 * spend_3m)
    revenue = rng.poisson(mean / 40) * rng.gamma(4.0, 10.0, n)
    signal[rng.random(n) < 0.1] = np.nan
    snapshots = np.repeat(pd.date_range("2026-01-01", periods=SNAPSHOTS, freq="MS"), PER_SNAPSHOT)
    return pd.DataFrame(
        {
            "customer_id": np.tile(np.arange(PER_SNAPSHOT), SNAPSHOTS),
            "snapshot_date": snapshots,
            "label_window_end_date": snapshots + pd.Timedelta(days=window_days),
            "signal": signal,
            "spend_3m": spend_3m,
            "total_spend": spend_3m * 3 + rng.gamma(1.0, 50.0, n),
            "orders_count": rng.poisson(3, n),
            "days_since_last_order": rng.integers(1, 400, n).astype(float),
            "tenure_days": rng.integers(30, 900, n),
            "lifecycle_segment": np.where(rng.random(n) < 0.5, "active", "dormant"),
            "is_high_value": rng.random(n) < 0.2,
            "revenue_90d": revenue,
        }
    )


def config_for(model_dir: Path, **changes) -> TrainingConfig:
    settings = {
        "task": "value_90d",
        "feature_columns": ("signal", "spend_3m", "days_since_last_order"),
        "label_column": "revenue_90d",
        "model_dir": model_dir,
        "objective": "regression",
        "label_window_days": 90,
        "backtest_folds": 3,
        "baselines": BASELINES,
        "importance_repeats": 2,
    }
    settings.update(changes)
    return TrainingConfig(**settings)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    frame = value_rows()
    model_dir = tmp_path_factory.mktemp("models")
    return frame, train_task(frame, config_for(model_dir), version_number=2)


def test_the_family_with_the_lowest_mean_out_of_time_deviance_is_registered(trained):
    _, model = trained
    evaluation = model.evaluation
    assert evaluation["objective"] == "regression"
    folds = evaluation["folds"]
    assert [fold["test_snapshot"] for fold in folds] == ["2026-04-01", "2026-05-01", "2026-06-01"]
    # Purged: a fold trains only on snapshots whose 90-day window closed by its test snapshot
    # (2026-02-01 + 90 days is 2026-05-02, so the May fold still trains on January alone).
    assert evaluation["purged_folds"]
    assert [(f["train_snapshot_start"], f["train_snapshot_end"]) for f in folds] == [
        ("2026-01-01", "2026-01-01"),
        ("2026-01-01", "2026-01-01"),
        ("2026-01-01", "2026-03-01"),
    ]
    assert [f["train_rows"] for f in folds] == [PER_SNAPSHOT, PER_SNAPSHOT, 3 * PER_SNAPSHOT]
    predictions = pd.read_parquet(model.predictions_path)
    means = {}
    for family in ("poisson_regression", "poisson_gradient_boosting"):
        per_fold = [
            poisson_deviance(rows["label"].to_numpy(), rows[f"score__{family}"].to_numpy())
            for _, rows in predictions.groupby("fold")
        ]
        means[family] = float(np.mean(per_fold))
        assert evaluation["selection"]["mean_fold"][family] == pytest.approx(means[family])
    assert model.model_family == min(means, key=means.get)
    assert evaluation["chosen"] == model.model_family
    assert evaluation["baselines"] == ["rfm", "run_rate"]
    assert evaluation["amount_scorers"] == sorted([*means, "run_rate"])


def test_registry_row_of_a_regression_model(trained):
    frame, model = trained
    row = model.registry_row()
    assert row["model_version"] == "value_90d-v2"
    assert row["validation_roc_auc"] is None and row["validation_pr_auc"] is None
    assert row["calibration"] == "none"
    newest = frame[frame["snapshot_date"] == pd.Timestamp("2026-06-01")]
    assert row["validation_rows"] == len(newest)
    assert row["validation_positives"] == int((newest["revenue_90d"] > 0).sum())
    metrics = json.loads(row["metrics_json"])
    assert metrics["model"] == metrics[model.model_family]
    assert metrics["model"]["rmse"] > 0 and "roc_auc" not in metrics["model"]
    assert row["explanation_sql"] and np.isfinite(row["explanation_bias"])


def test_onnx_equals_sklearn_and_the_sql_equals_onnxruntime(trained):
    frame, model = trained
    validation = frame[frame["snapshot_date"] == pd.Timestamp("2026-06-01")]
    x = validation[list(model.feature_columns)].to_numpy(dtype=np.float32)
    session = ort.InferenceSession(str(model.onnx_path), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {session.get_inputs()[0].name: x})
    onnx_amounts = output[:, 0].astype(np.float64)
    predictions = pd.read_parquet(model.predictions_path)
    newest = predictions[predictions["fold"] == predictions["fold"].max()]
    sklearn_amounts = newest["registered_score"].to_numpy()
    assert np.max(np.abs(onnx_amounts / sklearn_amounts - 1)) < 1e-5
    with duckdb.connect() as connection:
        connection.register("validation_rows", validation)
        sql = model.scoring_sql.replace(FEATURES_PLACEHOLDER, "validation_rows")
        scored = connection.sql(f"select * from ({sql}) order by customer_id").df()
    assert scored["customer_id"].tolist() == validation["customer_id"].tolist()
    assert np.max(np.abs(scored["score"].to_numpy() / onnx_amounts - 1)) < 1e-5


def test_pooled_metrics_and_baselines_follow_from_the_predictions_file(trained):
    frame, model = trained
    predictions = pd.read_parquet(model.predictions_path)
    overall = model.evaluation["overall"]
    actual = predictions["label"].to_numpy()
    for name in ("rfm", "run_rate", model.model_family):
        metrics = regression_metrics(
            actual, predictions[f"score__{name}"].to_numpy(), is_amount=name != "rfm"
        )
        assert metrics == pytest.approx(overall[name], nan_ok=True)
    # The run rate on the pooled rows, recomputed from the features.
    keyed = predictions.merge(frame, on=["customer_id", "snapshot_date"])
    days = np.minimum(91.3, np.maximum(keyed["tenure_days"], 1))
    np.testing.assert_allclose(keyed["score__run_rate"], keyed["spend_3m"] / days * 90)
    beaten = {entry["scorer"]: entry["model_beats_it"] for entry in model.evaluation["comparison"]}
    assert beaten["rfm"] and beaten["run_rate"]
    assert overall[model.model_family]["gini"] > overall["rfm"]["gini"]
    importance = model.evaluation["importance"]
    assert importance[0]["feature"] in ("signal", "spend_3m")


def test_regression_needs_its_window_and_complete_labels(tmp_path):
    frame = value_rows()
    with pytest.raises(TrainingDataError, match="label_window_days"):
        train_task(frame, config_for(tmp_path, label_window_days=None), version_number=1)
    frame.loc[3, "revenue_90d"] = np.nan
    with pytest.raises(TrainingDataError, match="has nulls"):
        train_task(frame, config_for(tmp_path), version_number=1)


def test_folds_keep_every_earlier_snapshot_when_no_window_closed_in_time(tmp_path):
    """A 365-day window on six months of snapshots: no training row's window closes before
    the newest test snapshot, so the folds are not purged, and say so."""
    frame = value_rows(window_days=365)
    model = train_task(frame, config_for(tmp_path), version_number=1)
    assert not model.evaluation["purged_folds"]
    folds = model.evaluation["folds"]
    assert [f["train_rows"] for f in folds] == [
        3 * PER_SNAPSHOT,
        4 * PER_SNAPSHOT,
        5 * PER_SNAPSHOT,
    ]
