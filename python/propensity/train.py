"""Train a task's candidate models on a time split, pick one by PR-AUC, export it to ONNX."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from propensity.onnx_sql import compile_onnx

# The relation name the stored scoring SQL reads from; the scoring model substitutes it.
FEATURES_PLACEHOLDER = "__propensity_features__"
PASSTHROUGH_COLUMNS = ("customer_id", "snapshot_date")


class TrainingDataError(ValueError):
    """The training rows cannot support a time-based split and a fit."""


@dataclass(frozen=True)
class TrainingConfig:
    """What to train: the task, its features and label, and how."""

    task: str
    feature_columns: tuple[str, ...]
    label_column: str
    model_dir: Path
    seed: int = 20261125
    snapshot_column: str = "snapshot_date"


@dataclass(frozen=True)
class TrainedModel:
    """A chosen, exported model and everything the registry records of it."""

    model_version: str
    task: str
    model_family: str
    trained_at: datetime
    feature_columns: tuple[str, ...]
    training_snapshot_start: date
    training_snapshot_end: date
    validation_snapshot: date
    training_rows: int
    training_positives: int
    validation_rows: int
    validation_positives: int
    metrics: dict[str, dict[str, float]]
    onnx_path: Path
    onnx_sha256: str
    scoring_sql: str

    def registry_row(self) -> dict[str, object]:
        """The row this model adds to the model registry table."""
        chosen = self.metrics[self.model_family]
        return {
            "model_version": self.model_version,
            "task": self.task,
            "model_family": self.model_family,
            "trained_at": self.trained_at.replace(tzinfo=None),
            "training_snapshot_start": self.training_snapshot_start,
            "training_snapshot_end": self.training_snapshot_end,
            "validation_snapshot": self.validation_snapshot,
            "feature_columns": json.dumps(list(self.feature_columns)),
            "training_rows": self.training_rows,
            "training_positives": self.training_positives,
            "validation_rows": self.validation_rows,
            "validation_positives": self.validation_positives,
            "validation_roc_auc": chosen["roc_auc"],
            "validation_pr_auc": chosen["pr_auc"],
            "metrics_json": json.dumps(self.metrics, sort_keys=True),
            "onnx_path": str(self.onnx_path),
            "onnx_sha256": self.onnx_sha256,
            "scoring_sql": self.scoring_sql,
        }


def candidate_models(seed: int) -> dict[str, Pipeline]:
    """The model families compared for every task: a logistic baseline and boosted trees."""
    return {
        "logistic_regression": Pipeline(
            [
                ("impute", SimpleImputer(strategy="median")),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(C=1.0, max_iter=2000)),
            ]
        ),
        "hist_gradient_boosting": Pipeline(
            [
                (
                    "model",
                    HistGradientBoostingClassifier(
                        learning_rate=0.05,
                        max_iter=150,
                        max_leaf_nodes=15,
                        min_samples_leaf=50,
                        l2_regularization=1.0,
                        early_stopping=False,
                        random_state=seed,
                    ),
                )
            ]
        ),
    }


def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, log loss, Brier score, base rate and top-decile lift."""
    labels = labels.astype(int)
    base_rate = float(labels.mean())
    top_count = max(1, len(scores) // 10)
    top = np.argsort(-scores, kind="stable")[:top_count]
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "log_loss": float(log_loss(labels, np.clip(scores, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "brier": float(brier_score_loss(labels, scores)),
        "base_rate": base_rate,
        "lift_top_decile": float(labels[top].mean() / base_rate) if base_rate else 0.0,
    }


def time_split(
    frame: pd.DataFrame, snapshot_column: str
) -> tuple[pd.DataFrame, pd.DataFrame, date]:
    """Older snapshots train; the newest fully labelled snapshot validates."""
    snapshots = sorted(frame[snapshot_column].unique())
    if len(snapshots) < 2:
        raise TrainingDataError(
            f"a time-based split needs at least 2 labelled snapshots; found {len(snapshots)}"
        )
    validation_snapshot = snapshots[-1]
    is_validation = frame[snapshot_column] == validation_snapshot
    return frame[~is_validation], frame[is_validation], pd.Timestamp(validation_snapshot).date()


def feature_matrix(frame: pd.DataFrame, feature_columns: tuple[str, ...]) -> np.ndarray:
    """The float32 matrix the model and onnxruntime see (nulls become NaN)."""
    return frame[list(feature_columns)].astype("float64").to_numpy(dtype=np.float32)


def export_onnx(pipeline: Pipeline, n_features: int) -> bytes:
    """The fitted pipeline as ONNX bytes with one float input and raw probabilities."""
    estimator = pipeline.steps[-1][1]
    onnx_model = to_onnx(
        pipeline,
        initial_types=[("features", FloatTensorType([None, n_features]))],
        options={id(estimator): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    return onnx_model.SerializeToString()


def train_task(frame: pd.DataFrame, config: TrainingConfig, version_number: int) -> TrainedModel:
    """Fit every candidate on the training snapshots, keep the best by validation PR-AUC."""
    missing = [c for c in (*config.feature_columns, config.label_column) if c not in frame]
    if missing:
        raise TrainingDataError(f"training rows lack columns: {', '.join(missing)}")
    train, validation, validation_snapshot = time_split(frame, config.snapshot_column)
    y_train = train[config.label_column].astype(int).to_numpy()
    y_validation = validation[config.label_column].astype(int).to_numpy()
    for name, labels in (("training", y_train), ("validation", y_validation)):
        if labels.min() == labels.max():
            raise TrainingDataError(f"the {name} rows hold only one class")
    x_train = feature_matrix(train, config.feature_columns)
    x_validation = feature_matrix(validation, config.feature_columns)

    metrics: dict[str, dict[str, float]] = {}
    fitted: dict[str, Pipeline] = {}
    for name, pipeline in candidate_models(config.seed).items():
        pipeline.fit(x_train, y_train)
        fitted[name] = pipeline
        metrics[name] = classification_metrics(
            y_validation, pipeline.predict_proba(x_validation)[:, 1]
        )
    chosen = max(metrics, key=lambda name: (metrics[name]["pr_auc"], name))

    onnx_bytes = export_onnx(fitted[chosen], len(config.feature_columns))
    sha256 = hashlib.sha256(onnx_bytes).hexdigest()
    model_version = f"{config.task}-v{version_number}"
    onnx_path = config.model_dir.resolve() / config.task / f"{model_version}.onnx"
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    onnx_path.write_bytes(onnx_bytes)
    scorer = compile_onnx(onnx.load_from_string(onnx_bytes), config.feature_columns)

    train_snapshots = sorted(train[config.snapshot_column].unique())
    return TrainedModel(
        model_version=model_version,
        task=config.task,
        model_family=chosen,
        trained_at=datetime.now(UTC),
        feature_columns=config.feature_columns,
        training_snapshot_start=pd.Timestamp(train_snapshots[0]).date(),
        training_snapshot_end=pd.Timestamp(train_snapshots[-1]).date(),
        validation_snapshot=validation_snapshot,
        training_rows=len(train),
        training_positives=int(y_train.sum()),
        validation_rows=len(validation),
        validation_positives=int(y_validation.sum()),
        metrics=metrics,
        onnx_path=onnx_path,
        onnx_sha256=sha256,
        scoring_sql=scorer.select_sql(FEATURES_PLACEHOLDER, PASSTHROUGH_COLUMNS),
    )
