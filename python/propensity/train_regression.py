"""Train a regression task (an amount per row, e.g. revenue over the next 90 days): the same
rolling-origin backtest as classification, the family with the lowest mean out-of-time Poisson
deviance registered as fitted for the newest fold, exported to ONNX with its exp link, compiled
to SQL. No calibration: a Poisson fit with a log link already matches the total of its
training amounts, and the calibration ratio (sum predicted / sum actual) is reported instead.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

import numpy as np
import onnx
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from propensity.backtest import BacktestError, Fold, run_backtest
from propensity.evaluate_regression import (
    poisson_deviance,
    regression_metrics,
    summarise_regression_evaluation,
)
from propensity.explain import UnsupportedModelError, compile_explainer
from propensity.onnx_sql import compile_onnx
from propensity.regression import export_regression_onnx
from propensity.train import (
    FEATURES_PLACEHOLDER,
    TrainedModel,
    TrainingConfig,
    TrainingDataError,
    feature_matrix,
    importance_sample,
    importance_table,
    out_of_time_predictions,
)

# Regression training runs on one OpenMP thread: scikit-learn opens a parallel region per
# boosting step and per tree, and on cores that other processes share, waiting for every
# thread costs far more than the work. Measured for value_90d on 2 busy cores: 143 s against
# 13.5 s single-threaded on 2,000 customers (31,857 rows), and for the backtest 216 s against
# 25 s on 20,000 customers (315,938 rows). A dedicated many-core machine may lose some speed.

# The training rows' label window end (task_training_set keeps it): folds train only on rows
# whose window closed by their test snapshot (propensity.backtest).
WINDOW_END_COLUMN = "label_window_end_date"


def mean_fold_deviance(folds: list[Fold], name: str) -> float | None:
    """Mean over the folds of one candidate's out-of-time Poisson deviance (None if undefined
    on any fold)."""
    values = [
        poisson_deviance(fold.test_rows["label"].to_numpy(dtype=float), fold.scores[name])
        for fold in folds
    ]
    return None if any(v is None for v in values) else float(np.mean(values))


def train_regression_task(
    frame: pd.DataFrame, config: TrainingConfig, version_number: int
) -> TrainedModel:
    """Backtest every regression candidate and the baseline rules, register the family with
    the lowest mean out-of-time Poisson deviance as fitted on every snapshot before the
    newest."""
    with threadpool_limits(limits=1, user_api="openmp"):
        return _train_regression_task(frame, config, version_number)


def _train_regression_task(
    frame: pd.DataFrame, config: TrainingConfig, version_number: int
) -> TrainedModel:
    if not config.label_window_days:
        raise TrainingDataError(f"{config.task}: a regression task needs its label_window_days")
    if frame[config.label_column].isna().any():
        raise TrainingDataError(f"{config.task}: the label {config.label_column} has nulls")
    try:
        folds = run_backtest(
            frame,
            candidates=config.candidates(),
            feature_matrix=feature_matrix,
            feature_columns=config.feature_columns,
            label_column=config.label_column,
            snapshot_column=config.snapshot_column,
            folds=config.backtest_folds,
            baselines=config.baselines,
            keep_columns=config.kept_columns(frame),
            seed=config.seed,
            objective="regression",
            horizon_days=config.label_window_days,
            window_end_column=WINDOW_END_COLUMN,
        )
    except BacktestError as error:
        raise TrainingDataError(str(error)) from error
    newest = folds[-1]
    families = tuple(newest.fitted)
    deviance = {name: mean_fold_deviance(folds, name) for name in families}
    chosen = min(
        families, key=lambda name: deviance[name] if deviance[name] is not None else math.inf
    )
    model = newest.fitted[chosen]
    actual = newest.test_rows["label"].to_numpy(dtype=float)

    onnx_bytes = export_regression_onnx(model, len(config.feature_columns))
    sha256 = hashlib.sha256(onnx_bytes).hexdigest()
    model_version = f"{config.task}-v{version_number}"
    task_dir = config.model_dir.resolve() / config.task
    task_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = task_dir / f"{model_version}.onnx"
    onnx_path.write_bytes(onnx_bytes)
    scorer = compile_onnx(onnx.load_from_string(onnx_bytes), config.feature_columns)
    try:
        explainer = compile_explainer(model, config.feature_columns)
        explanation_sql = explainer.select_sql(FEATURES_PLACEHOLDER, config.passthrough_columns)
        explanation_bias = explainer.bias
    except UnsupportedModelError:  # score_reasons leaves a model without explanations out
        explanation_sql, explanation_bias = "", math.nan

    predictions = out_of_time_predictions(folds, chosen, newest.scores[chosen])
    predictions_path = task_dir / f"{model_version}.predictions.parquet"
    predictions.to_parquet(predictions_path, index=False)

    metrics = {
        name: regression_metrics(actual, newest.scores[name], is_amount=True) for name in families
    }
    metrics["model"] = metrics[chosen]
    evaluation = summarise_regression_evaluation(
        folds,
        chosen=chosen,
        mean_fold_deviance=deviance,
        importance=regression_importances(newest, model, frame, config),
        horizon_days=config.label_window_days,
    )
    return TrainedModel(
        model_version=model_version,
        task=config.task,
        model_family=chosen,
        trained_at=datetime.now(UTC),
        feature_columns=config.feature_columns,
        training_snapshot_start=newest.train_snapshot_start,
        training_snapshot_end=newest.train_snapshot_end,
        validation_snapshot=newest.test_snapshot,
        training_rows=newest.train_rows,
        training_positives=newest.train_positives,
        validation_rows=len(actual),
        validation_positives=int((actual > 0).sum()),
        metrics=metrics,
        calibration="none",
        evaluation=evaluation,
        onnx_path=onnx_path,
        onnx_sha256=sha256,
        predictions_path=predictions_path,
        scoring_sql=scorer.select_sql(FEATURES_PLACEHOLDER, config.passthrough_columns),
        explanation_sql=explanation_sql,
        explanation_bias=explanation_bias,
    )


def regression_importances(
    fold: Fold, model: Pipeline, frame: pd.DataFrame, config: TrainingConfig
) -> list[dict[str, object]]:
    """Permutation importance (rise in mean Poisson deviance) on a seeded sample of the
    validation rows."""
    rows = importance_sample(fold, frame, config)
    actual = rows[config.label_column].astype(float).to_numpy()
    if not (actual > 0).any():
        return []
    result = permutation_importance(
        model,
        feature_matrix(rows, config.feature_columns),
        actual,
        scoring="neg_mean_poisson_deviance",
        n_repeats=config.importance_repeats,
        random_state=config.seed,
    )
    return importance_table(result, config)
