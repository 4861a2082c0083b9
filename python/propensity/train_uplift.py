"""Training an uplift task (objective uplift) for the registry: the learners of `uplift` fitted
on the randomised exposures of every campaign but the newest, measured on the newest.

The rows are the task's training set (`uplift_training_set` macro): one per exposure of the
base task's campaigns with a complete label, the base task's features at the exposure's
snapshot, the label as outcome and `treatment_column` as treatment. The newest campaign (by
its newest exposure snapshot) is held out, out of time. The learner is chosen by its
out-of-fold Qini on the earlier campaigns (3 folds, a customer's rows in one fold) and its uplift
calibrated on those out-of-fold predictions (treated share per campaign); it is registered with
its ONNX graph (calibration included), its scoring SQL and the held-out predictions of every
learner and of the response models, from which the report draws the Qini curves and the
calibration check.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from propensity.train import FEATURES_PLACEHOLDER, TrainedModel, TrainingConfig, TrainingDataError
from propensity.uplift import UPLIFT_FAMILIES, UpliftDataError, fit_uplift

CAMPAIGN_COLUMN = "campaign_id"
CUSTOMER_COLUMN = "customer_id"


def newest_campaign(frame: pd.DataFrame, snapshot_column: str = "snapshot_date") -> str:
    """The campaign whose newest exposure snapshot is the latest (ties: the larger id)."""
    newest = frame.groupby(CAMPAIGN_COLUMN)[snapshot_column].max()
    return max(newest.index, key=lambda campaign: (newest[campaign], campaign))


def train_uplift_task(
    frame: pd.DataFrame, config: TrainingConfig, treatment_column: str, version_number: int
) -> TrainedModel:
    """Choose and calibrate the uplift learner on the earlier campaigns (out of fold), measure
    it on the newest and register it; TrainingDataError when the rows cannot (no exposures, one
    campaign, one arm)."""
    if frame.empty:
        raise TrainingDataError(
            f"{config.task}: no experiment rows (experiments source off, or no exposure of a "
            "campaign of the base task has a complete label)"
        )
    needed = [CAMPAIGN_COLUMN, treatment_column, config.label_column, *config.passthrough_columns]
    missing = [column for column in needed if column not in frame]
    if missing:
        raise TrainingDataError(f"{config.task}: training rows lack {', '.join(missing)}")
    if frame[CAMPAIGN_COLUMN].nunique() < 2:
        raise TrainingDataError(
            f"{config.task}: experiment rows of one campaign only; the newest is held out, so "
            "at least two campaigns are needed"
        )
    frame = frame.assign(
        treatment=frame[treatment_column].astype("int64"),
        outcome=frame[config.label_column].astype("int64"),
    ).reset_index(drop=True)
    held_out_campaign = newest_campaign(frame, config.snapshot_column)
    holdout = (frame[CAMPAIGN_COLUMN] == held_out_campaign).to_numpy()
    try:
        fit = fit_uplift(
            frame,
            config.feature_columns,
            "treatment",
            "outcome",
            holdout,
            seed=config.seed,
            families=config.families or UPLIFT_FAMILIES,
            groups=frame[CUSTOMER_COLUMN].to_numpy() if CUSTOMER_COLUMN in frame else None,
            strata=frame[CAMPAIGN_COLUMN].to_numpy(),
        )
    except UpliftDataError as error:
        raise TrainingDataError(f"{config.task}: {error}") from error

    model_version = f"{config.task}-v{version_number}"
    task_dir = config.model_dir.resolve() / config.task
    task_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = task_dir / f"{model_version}.onnx"
    onnx_path.write_bytes(fit.onnx_bytes)
    held_out_keys = [CAMPAIGN_COLUMN, *config.passthrough_columns]
    predictions = pd.concat(
        [frame.loc[holdout, held_out_keys], fit.holdout_scores], axis="columns"
    ).reset_index(drop=True)
    predictions_path = task_dir / f"{model_version}.predictions.parquet"
    predictions.to_parquet(predictions_path, index=False)

    train_rows, test_rows = frame[~holdout], frame[holdout]
    metrics = dict(fit.metrics) | {"model": fit.metrics[fit.chosen]}
    training_campaigns = sorted(train_rows[CAMPAIGN_COLUMN].unique())
    evaluation = {
        "objective": "uplift",
        "chosen": fit.chosen,
        "metrics": fit.metrics,
        "curves": {name: [list(point) for point in points] for name, points in fit.curves.items()},
        "treatment": treatment_column,
        "outcome": config.label_column,
        "held_out_campaign": held_out_campaign,
        "training_campaigns": training_campaigns,
        "split": {
            "description": (
                f"out of time: fitted on {', '.join(training_campaigns)}, measured on the newest "
                f"campaign {held_out_campaign}"
            ),
            "out_of_time": True,
        },
    } | fit.selection_figures()
    return TrainedModel(
        model_version=model_version,
        task=config.task,
        model_family=fit.chosen,
        trained_at=datetime.now(UTC),
        feature_columns=config.feature_columns,
        training_snapshot_start=train_rows[config.snapshot_column].min(),
        training_snapshot_end=train_rows[config.snapshot_column].max(),
        validation_snapshot=test_rows[config.snapshot_column].max(),
        training_rows=len(train_rows),
        training_positives=int(train_rows["outcome"].sum()),
        validation_rows=len(test_rows),
        validation_positives=int(test_rows["outcome"].sum()),
        metrics=metrics,
        calibration=fit.calibration_label(),
        evaluation=evaluation,
        onnx_path=onnx_path,
        onnx_sha256=hashlib.sha256(fit.onnx_bytes).hexdigest(),
        predictions_path=predictions_path,
        scoring_sql=fit.scorer.select_sql(FEATURES_PLACEHOLDER, config.passthrough_columns),
        explanation_sql=None,
        explanation_bias=float(np.nan),
    )
