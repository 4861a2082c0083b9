"""The model registry: one row per trained model version, appended, never rebuilt.

A fresh build trains every task that has no model yet; later builds reuse the registered
model unless the `retrain` var asks for it (`dbt build --vars '{retrain: true}'` retrains
every task, `{retrain: [churn]}` only the tasks listed). The var `train_tasks` (a list)
limits training to the tasks it names; the others keep their models, or stay unscored.
Which tasks exist, and where their labelled rows are, comes from ml_tasks (the declared var
tasks), so a new task needs no change here.
"""

import json
from pathlib import Path

from propensity.registry import (
    TaskTrainingInput,
    empty_registry_frame,
    new_registry_rows,
    retrain_selection,
    task_selection,
)


def model(dbt, session):
    dbt.config(
        materialized="incremental", full_refresh=False, on_schema_change="append_new_columns"
    )
    task_features = dbt.ref("ml_task_features").df()
    tasks = dbt.ref("ml_tasks").df()
    if dbt.is_incremental:
        existing = session.sql(f"select model_version, task from {dbt.this}").df()
    else:
        existing = empty_registry_frame()[["model_version", "task"]]

    # dbt finds config keys by reading dbt.config.get calls; one nested in a method chain
    # is missed, so each read stands on its own.
    retrain = dbt.config.get("retrain")
    train_tasks = dbt.config.get("train_tasks")
    inputs = []
    for declared in tasks.sort_values("task").itertuples():
        treatment_column = declared.treatment_column
        # An uplift task uses its base task's features.
        feature_task = declared.base_task if isinstance(declared.base_task, str) else declared.task
        features = task_features[task_features["task"] == feature_task].sort_values(
            "feature_position"
        )
        inputs.append(
            TaskTrainingInput(
                task=declared.task,
                # ml_tasks refs every training set, so they are built before this model.
                training_rows=session.sql(f"select * from {declared.training_set_relation}"),
                feature_columns=tuple(features["feature_name"]),
                label_column=declared.label_column,
                objective=declared.objective,
                key_columns=tuple(json.loads(declared.key_columns)),
                families=tuple(json.loads(declared.model_families)),
                baselines=json.loads(declared.baselines),
                max_training_rows=int(declared.max_training_rows),
                feature_descriptions=dict(
                    zip(features["feature_name"], features["reason_template"], strict=True)
                ),
                label_window_days=int(declared.label_window_days),
                treatment_column=treatment_column if isinstance(treatment_column, str) else None,
            )
        )
    return new_registry_rows(
        inputs,
        existing,
        retrain=retrain_selection(retrain),
        model_dir=Path(dbt.config.get("model_dir")),
        seed=int(dbt.config.get("training_seed")),
        backtest_folds=int(dbt.config.get("backtest_folds")),
        calibration=str(dbt.config.get("calibration")),
        train_tasks=task_selection(train_tasks),
    )
