"""Scoring parity: the SQL the warehouse scores with equals onnxruntime on the registered ONNX.

Also the truth gap: how the model's ranking compares with the generator's true probabilities.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def registry(built, dbt) -> pd.DataFrame:
    """Every registered version (tests/python/test_value_tasks.py checks the value tasks'
    regressors; the classification checks here pick their tasks' rows)."""
    return dbt.query(built.warehouse, "select * from ml.model_registry").set_index("model_version")


def onnx_probabilities(onnx_path: Path, features: np.ndarray) -> np.ndarray:
    """P(positive) from onnxruntime for a float32 matrix (NaN = missing)."""
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    assert len(inputs) == 1
    outputs = session.run(None, {inputs[0].name: features})
    probabilities = [
        output
        for output in outputs
        if isinstance(output, np.ndarray) and output.ndim == 2 and output.shape[1] == 2
    ]
    assert len(probabilities) == 1, [getattr(o, "shape", type(o)) for o in outputs]
    return probabilities[0][:, 1].astype(np.float64)


def classification_tasks(dbt, warehouse: Path) -> list[dict]:
    """Every declared classification task with its keys and feature relation (ml_tasks)."""
    tasks = dbt.query(
        warehouse,
        "select task, key_columns, features_relation from ml.ml_tasks "
        "where objective = 'classification' order by task",
    )
    assert {"upsell", "churn"} <= set(tasks["task"])
    return [
        {**row, "keys": [*json.loads(row["key_columns"]), "snapshot_date"]}
        for row in tasks.to_dict("records")
    ]


def feature_frame(
    dbt, warehouse: Path, task: dict, columns: list[str], where: str = "true", parameters=()
) -> pd.DataFrame:
    """The task's keys and the model's columns as doubles (NULL -> NaN), in key order."""
    keys = ", ".join(task["keys"])
    casts = ", ".join(f'cast("{column}" as double) as "{column}"' for column in columns)
    return dbt.query(
        warehouse,
        f"select {keys}, {casts} from {task['features_relation']} where {where} order by {keys}",
        parameters,
    )


def as_float32(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return frame[columns].to_numpy(dtype=np.float64, na_value=np.nan).astype(np.float32)


def checked_onnx_path(row: pd.Series) -> Path:
    path = Path(row["onnx_path"])
    assert path.exists(), path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == row["onnx_sha256"]
    return path


def test_every_score_equals_onnxruntime_on_the_registered_model(built, dbt, registry):
    as_of = dbt.scalar(
        built.warehouse,
        "select snapshot_date from intermediate.int_snapshot_dates where is_as_of_snapshot",
    )
    for task in classification_tasks(dbt, built.warehouse):
        keys = task["keys"]
        scores = dbt.query(
            built.warehouse,
            f"select {', '.join(keys)}, score, model_version from ml.{task['task']}_scores "
            f"order by {', '.join(keys)}",
        )
        assert len(scores) > 500, task["task"]
        assert not scores.duplicated(keys).any()
        assert set(scores["snapshot_date"].dt.date) == {as_of}
        (version,) = set(scores["model_version"])
        row = registry.loc[version]
        columns = json.loads(row["feature_columns"])
        path = checked_onnx_path(row)

        features = feature_frame(dbt, built.warehouse, task, columns, "snapshot_date = ?", [as_of])
        features = scores[keys].merge(features, on=keys, how="left", validate="one_to_one")
        matrix = as_float32(features, columns)
        assert np.isnan(matrix).any(), "NULL features must be part of the comparison"
        expected = onnx_probabilities(path, matrix)
        difference = np.abs(expected - scores["score"].to_numpy())
        print(f"{task['task']}: max |SQL - onnxruntime| over {len(scores)}: {difference.max():.2e}")
        assert difference.max() <= TOLERANCE, scores.iloc[int(difference.argmax())]


def test_every_eligible_as_of_row_is_scored_exactly_once(built, dbt):
    for task in classification_tasks(dbt, built.warehouse):
        keys = task["keys"]
        eligible = dbt.query(
            built.warehouse,
            f"select {', '.join(keys)} from intermediate.int_{task['task']}_labels "
            "where snapshot_date = (select as_of_date from intermediate.int_snapshot_dates "
            f"limit 1) order by {', '.join(keys)}",
        )
        scored = dbt.query(
            built.warehouse,
            f"select {', '.join(keys)} from ml.{task['task']}_scores order by {', '.join(keys)}",
        )
        assert len(eligible) > 500, task["task"]
        assert not scored.duplicated().any()
        pd.testing.assert_frame_equal(scored, eligible)


def test_scoring_sql_matches_onnxruntime_on_every_snapshot(built, dbt, registry):
    """The compiled SQL, run on every feature row (many NULL patterns), equals onnxruntime."""
    for task in classification_tasks(dbt, built.warehouse):
        keys = task["keys"]
        for _, row in registry[registry["task"] == task["task"]].iterrows():
            columns = json.loads(row["feature_columns"])
            sql = row["scoring_sql"].replace(
                "__propensity_features__", f"(select * from {task['features_relation']})"
            )
            scored = dbt.query(
                built.warehouse,
                f"select {', '.join(keys)}, score from ({sql}) as scored "
                f"order by {', '.join(keys)}",
            )
            features = feature_frame(dbt, built.warehouse, task, columns)
            assert len(scored) == len(features) > 20_000
            pd.testing.assert_frame_equal(scored[keys], features[keys])
            expected = onnx_probabilities(checked_onnx_path(row), as_float32(features, columns))
            assert np.abs(expected - scored["score"].to_numpy()).max() <= TOLERANCE


def test_model_beats_random_on_the_validation_snapshot(built, dbt, registry):
    """Truth gap (information): model ROC-AUC vs the true probability's on the same rows."""
    (version,) = registry.index[registry["task"] == "upsell"]
    row = registry.loc[version]
    columns = json.loads(row["feature_columns"])
    validation_snapshot = pd.Timestamp(row["validation_snapshot"]).date()
    rows = dbt.query(
        built.warehouse,
        f"select customer_id, snapshot_date, has_upgraded, "
        f"{', '.join(f'cast({c} as double) as {c}' for c in columns)} "
        "from ml.upsell_training_set where snapshot_date = ?",
        [validation_snapshot],
    )
    assert len(rows) == row["validation_rows"]
    labels = rows["has_upgraded"].astype(int).to_numpy()
    assert labels.sum() == row["validation_positives"] > 0

    model_scores = onnx_probabilities(checked_onnx_path(row), as_float32(rows, columns))
    truth = pd.read_parquet(built.truth_file)
    truth = truth[pd.to_datetime(truth["snapshot_date"]).dt.date == validation_snapshot]
    truth = truth.set_index("customer_id")["true_upsell_probability"]
    true_probability = truth.reindex(rows["customer_id"]).to_numpy()
    assert not np.isnan(true_probability).any(), "every validation row has a truth probability"

    model_auc = roc_auc_score(labels, model_scores)
    truth_auc = roc_auc_score(labels, true_probability)
    print(
        f"\nvalidation snapshot {validation_snapshot}: {len(rows)} rows, {labels.sum()} "
        f"upgrades; ROC-AUC model {model_auc:.3f} ({row['model_family']}), "
        f"truth probability {truth_auc:.3f}"
    )
    assert model_auc > 0.6
    # The registry's metric is the same number (sklearn there, onnxruntime here).
    assert abs(model_auc - row["validation_roc_auc"]) < 0.01
