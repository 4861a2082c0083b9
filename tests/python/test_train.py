"""Training: the time split, the metrics, the choice between families, refusing bad data."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest

from propensity.train import (
    TrainingConfig,
    TrainingDataError,
    classification_metrics,
    time_split,
    train_task,
)


def test_metrics_match_a_hand_computed_example() -> None:
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    metrics = classification_metrics(labels, scores)
    # 3 of the 4 positive/negative pairs are ordered right.
    assert metrics["roc_auc"] == pytest.approx(0.75)
    # Precision 1 at recall 0.5, then 2/3 at recall 1: (1 + 2/3) / 2.
    assert metrics["pr_auc"] == pytest.approx(5 / 6)
    assert metrics["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert metrics["base_rate"] == 0.5
    # The top "decile" of 4 rows is the single best score, a positive: 1 / 0.5.
    assert metrics["lift_top_decile"] == 2.0


def test_time_split_validates_on_the_newest_snapshot() -> None:
    frame = pd.DataFrame(
        {
            "snapshot_date": pd.to_datetime(["2026-08-01", "2026-09-01", "2026-10-01"] * 2),
            "value": range(6),
        }
    )
    train, validation, snapshot = time_split(frame, "snapshot_date")
    assert snapshot == date(2026, 10, 1)
    assert sorted(validation["value"]) == [2, 5]
    assert (train["snapshot_date"] < pd.Timestamp("2026-10-01")).all()
    with pytest.raises(TrainingDataError, match="at least 2 labelled snapshots"):
        time_split(frame[frame["snapshot_date"] == "2026-10-01"], "snapshot_date")


def synthetic_rows(seed: int, snapshots: int = 4, per_snapshot: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = snapshots * per_snapshot
    signal = rng.normal(size=n)
    noise = rng.normal(size=n)
    signal[rng.random(n) < 0.1] = np.nan
    logit = -2.5 + 1.5 * np.nan_to_num(signal)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "snapshot_date": np.repeat(
                pd.date_range("2026-06-01", periods=snapshots, freq="MS"), per_snapshot
            ),
            "signal": signal,
            "noise": noise,
            "has_upgraded": rng.random(n) < 1 / (1 + np.exp(-logit)),
        }
    )


def test_train_task_registers_the_better_family_and_its_onnx_file(tmp_path: Path) -> None:
    frame = synthetic_rows(seed=5)
    config = TrainingConfig(
        task="upsell",
        feature_columns=("signal", "noise"),
        label_column="has_upgraded",
        model_dir=tmp_path,
    )
    trained = train_task(frame, config, version_number=3)
    assert trained.model_version == "upsell-v3"
    assert set(trained.metrics) == {"logistic_regression", "hist_gradient_boosting"}
    best = max(trained.metrics.values(), key=lambda m: m["pr_auc"])["pr_auc"]
    assert trained.metrics[trained.model_family]["pr_auc"] == best
    assert trained.metrics[trained.model_family]["roc_auc"] > 0.7
    assert trained.validation_snapshot == date(2026, 9, 1)
    assert trained.training_rows == 1800 and trained.validation_rows == 600
    assert trained.training_positives == int(frame["has_upgraded"].iloc[:1800].sum())
    onnx_bytes = trained.onnx_path.read_bytes()
    assert trained.onnx_path == tmp_path / "upsell" / "upsell-v3.onnx"
    assert trained.onnx_sha256 == hashlib.sha256(onnx_bytes).hexdigest()
    session = ort.InferenceSession(onnx_bytes)
    x = frame[["signal", "noise"]].to_numpy(np.float32)
    probabilities = session.run(None, {"features": x})[1][:, 1]
    assert ((probabilities > 0) & (probabilities < 1)).all()
    assert "__propensity_features__" in trained.scoring_sql
    row = trained.registry_row()
    assert row["validation_pr_auc"] == trained.metrics[trained.model_family]["pr_auc"]


def test_train_task_refuses_a_single_class_and_missing_columns(tmp_path: Path) -> None:
    frame = synthetic_rows(seed=6).assign(has_upgraded=False)
    config = TrainingConfig(
        task="upsell",
        feature_columns=("signal", "noise"),
        label_column="has_upgraded",
        model_dir=tmp_path,
    )
    with pytest.raises(TrainingDataError, match="only one class"):
        train_task(frame, config, version_number=1)
    with pytest.raises(TrainingDataError, match="lack columns: noise"):
        train_task(frame.drop(columns="noise"), config, version_number=1)
