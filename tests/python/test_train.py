"""Training: the rolling-origin backtest, the family choice, calibration, the ONNX file,
the evaluation the registry keeps, and refusing bad data."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from propensity.backtest import fold_snapshots
from propensity.train import TrainingConfig, TrainingDataError, feature_matrix, train_task

SNAPSHOTS = 6
PER_SNAPSHOT = 700


def synthetic_rows(seed: int, snapshots: int = SNAPSHOTS, per_snapshot: int = PER_SNAPSHOT):
    """Rows whose label depends on `signal` (10% missing), with `noise` and a rule column."""
    rng = np.random.default_rng(seed)
    n = snapshots * per_snapshot
    signal = rng.normal(size=n)
    noise = rng.normal(size=n)
    signal[rng.random(n) < 0.1] = np.nan
    logit = -2.5 + 1.5 * np.nan_to_num(signal)
    return pd.DataFrame(
        {
            "customer_id": np.tile(np.arange(per_snapshot), snapshots),
            "snapshot_date": np.repeat(
                pd.date_range("2026-04-01", periods=snapshots, freq="MS"), per_snapshot
            ),
            "signal": signal,
            "noise": noise,
            "lifecycle_segment": np.where(rng.random(n) < 0.5, "active", "dormant"),
            "is_high_value": rng.random(n) < 0.2,
            "is_engagement_driven": False,
            "has_upgraded": rng.random(n) < 1 / (1 + np.exp(-logit)),
        }
    )


def config_for(model_dir: Path, **changes) -> TrainingConfig:
    settings = {
        "task": "upsell",
        "feature_columns": ("signal", "noise"),
        "label_column": "has_upgraded",
        "model_dir": model_dir,
        "backtest_folds": 3,
        "baselines": {"noise_rule": ["noise"], "missing_rule": ["not_a_column"]},
        "importance_repeats": 3,
    }
    settings.update(changes)
    return TrainingConfig(**settings)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    frame = synthetic_rows(seed=5)
    model_dir = tmp_path_factory.mktemp("models")
    return frame, train_task(frame, config_for(model_dir), version_number=3)


def test_fold_snapshots_are_the_newest_with_an_earlier_snapshot():
    months = ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert fold_snapshots(months, 2) == ["2026-03", "2026-04"]
    assert fold_snapshots(months, 10) == ["2026-02", "2026-03", "2026-04"]
    with pytest.raises(ValueError, match="at least 2 labelled snapshots"):
        fold_snapshots(["2026-01"], 3)


def test_backtest_folds_train_only_on_earlier_snapshots(trained):
    frame, model = trained
    folds = model.evaluation["folds"]
    assert [fold["test_snapshot"] for fold in folds] == ["2026-07-01", "2026-08-01", "2026-09-01"]
    for fold in folds:
        test = pd.Timestamp(fold["test_snapshot"])
        assert pd.Timestamp(fold["train_snapshot_end"]) < test
        assert fold["train_snapshot_start"] == "2026-04-01"
        assert fold["train_rows"] == int((frame["snapshot_date"] < test).sum())
        labels = frame.loc[frame["snapshot_date"] == test, "has_upgraded"]
        for metrics in fold["metrics"].values():
            assert metrics["rows"] == PER_SNAPSHOT
            assert metrics["positives"] == int(labels.sum())


def test_the_registered_model_is_the_newest_fold_of_the_best_family(trained):
    frame, model = trained
    evaluation = model.evaluation
    means = evaluation["mean_fold_pr_auc"]
    assert model.model_family == max(means, key=means.get)
    for family, mean in means.items():
        per_fold = [fold["metrics"][family]["pr_auc"] for fold in evaluation["folds"]]
        assert mean == pytest.approx(np.mean(per_fold))
    assert model.validation_snapshot == date(2026, 9, 1)
    assert model.training_snapshot_start == date(2026, 4, 1)
    assert model.training_snapshot_end == date(2026, 8, 1)
    assert model.training_rows == 5 * PER_SNAPSHOT and model.validation_rows == PER_SNAPSHOT
    validation = frame[frame["snapshot_date"] == "2026-09-01"]
    assert model.validation_positives == int(validation["has_upgraded"].sum())
    assert model.training_positives == int(
        frame.loc[frame["snapshot_date"] < "2026-09-01", "has_upgraded"].sum()
    )
    # The ONNX file scores the validation rows exactly as the registry's metrics say.
    onnx_bytes = model.onnx_path.read_bytes()
    assert model.onnx_path.name == "upsell-v3.onnx"
    assert model.onnx_sha256 == hashlib.sha256(onnx_bytes).hexdigest()
    session = ort.InferenceSession(onnx_bytes)
    x = feature_matrix(validation, model.feature_columns)
    probabilities = session.run(None, {"features": x})[1][:, 1]
    labels = validation["has_upgraded"].astype(int)
    assert roc_auc_score(labels, probabilities) == pytest.approx(
        model.metrics["model"]["roc_auc"], abs=1e-6
    )
    assert model.metrics["model"]["roc_auc"] > 0.75
    row = model.registry_row()
    assert row["validation_pr_auc"] == model.metrics["model"]["pr_auc"]
    assert "__propensity_features__" in row["scoring_sql"]
    assert "__propensity_features__" in row["explanation_sql"]


def test_baselines_are_measured_on_the_same_rows_and_lose(trained):
    _, model = trained
    evaluation = model.evaluation
    overall = evaluation["overall"]
    assert evaluation["baselines"] == ["random", "noise_rule"]  # missing_rule has no column
    assert {metrics["rows"] for metrics in overall.values()} == {3 * PER_SNAPSHOT}
    assert len({metrics["positives"] for metrics in overall.values()}) == 1
    predictions = pd.read_parquet(model.predictions_path)
    assert len(predictions) == 3 * PER_SNAPSHOT
    for scorer in overall:
        scores = predictions[f"score__{scorer}"]
        assert scores.notna().all()
        assert overall[scorer]["pr_auc"] == pytest.approx(
            average_precision_score(predictions["label"], scores)
        )
    comparison = {row["scorer"]: row for row in evaluation["comparison"]}
    assert set(comparison) == set(overall) - {model.model_family}
    for name in ("random", "noise_rule"):
        assert comparison[name]["model_beats_it"]
        assert comparison[name]["pr_auc"]["difference"] == pytest.approx(
            overall[model.model_family]["pr_auc"] - overall[name]["pr_auc"]
        )
    # Top decile of the pooled out-of-time rows: lift well above 1.
    assert evaluation["deciles"][0]["lift"] > 2
    assert evaluation["deciles"][-1]["cumulative_gain"] == pytest.approx(1.0)
    # Only the validation fold carries the registered model's score.
    newest = predictions["fold"] == predictions["fold"].max()
    assert predictions.loc[newest, "registered_score"].notna().all()
    assert predictions.loc[~newest, "registered_score"].isna().all()


def test_segments_and_importance(trained):
    _, model = trained
    segments = {row["segment"]: row for row in model.evaluation["segments"]}
    assert set(segments) == {"active", "dormant", "high_value"}
    predictions = pd.read_parquet(model.predictions_path)
    active = predictions[predictions["lifecycle_segment"] == "active"]
    assert segments["active"]["rows"] == len(active)
    assert segments["active"]["roc_auc"] == pytest.approx(
        roc_auc_score(active["label"], active["score"])
    )
    importance = model.evaluation["importance"]
    assert importance[0]["feature"] == "signal"
    assert importance[0]["importance_mean"] > 0.05
    assert abs(importance[1]["importance_mean"]) < importance[0]["importance_mean"] / 5


def test_forced_calibration_is_in_the_onnx_graph(tmp_path):
    frame = synthetic_rows(seed=8)
    # Shift later labels up: the models, fitted on older snapshots, under-predict them.
    late = frame["snapshot_date"] >= "2026-07-01"
    rng = np.random.default_rng(1)
    frame.loc[late, "has_upgraded"] |= rng.random(int(late.sum())) < 0.1
    model = train_task(frame, config_for(tmp_path, calibration="sigmoid"), version_number=1)
    calibration = model.evaluation["calibration"]
    assert model.calibration == "platt" and calibration["method"] == "platt"
    assert calibration["slope"] > 0
    after, before = calibration["validation_after"], calibration["validation_before"]
    assert after["ece"] < before["ece"]
    validation = frame[frame["snapshot_date"] == "2026-09-01"]
    session = ort.InferenceSession(model.onnx_path.read_bytes())
    probabilities = session.run(
        None, {"features": feature_matrix(validation, model.feature_columns)}
    )
    predictions = pd.read_parquet(model.predictions_path)
    registered = predictions.loc[predictions["registered_score"].notna(), "registered_score"]
    np.testing.assert_allclose(probabilities[1][:, 1], registered, atol=1e-5)
    assert np.mean(probabilities[1][:, 1]) == pytest.approx(after["mean_score"], abs=1e-5)

    unchanged = train_task(frame, config_for(tmp_path, calibration="none"), version_number=2)
    assert unchanged.calibration == "none"


def test_train_task_refuses_a_single_class_bad_settings_and_missing_columns(tmp_path):
    frame = synthetic_rows(seed=6).assign(has_upgraded=False)
    config = config_for(tmp_path)
    with pytest.raises(TrainingDataError, match="only one class"):
        train_task(frame, config, version_number=1)
    with pytest.raises(TrainingDataError, match="lack columns: noise"):
        train_task(frame.drop(columns="noise"), config, version_number=1)
    with pytest.raises(TrainingDataError, match="at least 2 labelled snapshots"):
        one_snapshot = synthetic_rows(seed=6, snapshots=1)
        train_task(one_snapshot, config, version_number=1)
    with pytest.raises(TrainingDataError, match="calibration must be one of"):
        train_task(synthetic_rows(seed=6), config_for(tmp_path, calibration="magic"), 1)
