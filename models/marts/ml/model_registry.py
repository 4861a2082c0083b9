"""The model registry: one row per trained model version, appended, never rebuilt.

A fresh build trains every task that has no model yet; later builds reuse the registered
model unless the `retrain` var is true (`dbt build --vars '{retrain: true}'`).
"""

from pathlib import Path

from propensity.registry import TaskTrainingInput, empty_registry_frame, new_registry_rows

# Each task: its label column. dbt needs every ref() spelled out, so the training sets are
# listed literally in model() below.
LABEL_COLUMNS = {"upsell": "has_upgraded"}


def model(dbt, session):
    dbt.config(materialized="incremental", full_refresh=False)
    task_features = dbt.ref("ml_task_features").df()
    if dbt.is_incremental:
        existing = session.sql(f"select model_version, task from {dbt.this}").df()
    else:
        existing = empty_registry_frame()[["model_version", "task"]]

    training_sets = {"upsell": dbt.ref("upsell_training_set")}
    inputs = []
    for task, training_rows in training_sets.items():
        features = task_features[task_features["task"] == task].sort_values("feature_position")
        inputs.append(
            TaskTrainingInput(
                task=task,
                training_rows=training_rows,
                feature_columns=tuple(features["feature_name"]),
                label_column=LABEL_COLUMNS[task],
            )
        )
    # dbt finds config keys by reading dbt.config.get calls; one nested in a method chain
    # is missed, so each read stands on its own.
    retrain = dbt.config.get("retrain")
    return new_registry_rows(
        inputs,
        existing,
        retrain=str(retrain).lower() == "true",
        model_dir=Path(dbt.config.get("model_dir")),
        seed=int(dbt.config.get("training_seed")),
        max_training_rows=int(dbt.config.get("max_training_rows")),
    )
