"""The model registry: one row per trained model version, appended, never rebuilt.

A fresh build trains every task that has no model yet; later builds reuse the registered
model unless the `retrain` var is true (`dbt build --vars '{retrain: true}'`).
"""

import json
from pathlib import Path

from propensity.registry import TaskTrainingInput, empty_registry_frame, new_registry_rows


def model(dbt, session):
    dbt.config(
        materialized="incremental", full_refresh=False, on_schema_change="append_new_columns"
    )
    task_features = dbt.ref("ml_task_features").df()
    if dbt.is_incremental:
        existing = session.sql(f"select model_version, task from {dbt.this}").df()
    else:
        existing = empty_registry_frame()[["model_version", "task"]]

    # dbt needs every ref() spelled out, so the training sets are listed literally.
    training_sets = {"upsell": dbt.ref("upsell_training_set")}
    # dbt finds config keys by reading dbt.config.get calls; one nested in a method chain
    # is missed, so each read stands on its own.
    tasks = json.loads(dbt.config.get("tasks"))
    retrain = dbt.config.get("retrain")
    inputs = []
    for task, training_rows in training_sets.items():
        features = task_features[task_features["task"] == task].sort_values("feature_position")
        settings = tasks[task]
        inputs.append(
            TaskTrainingInput(
                task=task,
                training_rows=training_rows,
                feature_columns=tuple(features["feature_name"]),
                label_column=settings["label_column"],
                baselines=settings.get("baselines", {}),
                feature_descriptions=dict(
                    zip(features["feature_name"], features["reason_template"], strict=True)
                ),
            )
        )
    return new_registry_rows(
        inputs,
        existing,
        retrain=str(retrain).lower() == "true",
        model_dir=Path(dbt.config.get("model_dir")),
        seed=int(dbt.config.get("training_seed")),
        max_training_rows=int(dbt.config.get("max_training_rows")),
        backtest_folds=int(dbt.config.get("backtest_folds")),
        calibration=str(dbt.config.get("calibration")),
    )
