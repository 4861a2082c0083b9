"""Regressors in ONNX and in SQL: the exp link appended to boosted Poisson trees makes
onnxruntime equal scikit-learn, and the SQL compiled from each regression graph equals
onnxruntime (1e-5 relative) on every row, missing inputs as SQL NULL or as NaN."""

from __future__ import annotations

import duckdb
import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
import pytest
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from propensity.onnx_sql import compile_onnx
from propensity.regression import (
    append_exp_link,
    ends_with_exp,
    export_regression_onnx,
    regression_candidate_models,
)

RELATIVE_TOLERANCE = 1e-5
N_FEATURES = 6
COLUMNS = [f"x{j}" for j in range(N_FEATURES)]

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def revenue_data(n: int = 3000, seed: int = 3, nan_rate: float = 0.1):
    """Zero-inflated, skewed amounts driven by two features; float32 inputs with NaNs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES))
    mean = np.exp(0.8 + 0.7 * x[:, 0] - 0.4 * x[:, 1] + 0.3 * x[:, 2] * x[:, 3])
    y = rng.poisson(mean) * rng.gamma(2.0, 25.0, size=n)
    x = x.astype(np.float32)
    x[rng.random(x.shape) < nan_rate] = np.nan
    return x, y


def onnxruntime_prediction(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {session.get_inputs()[0].name: x})
    assert output.shape == (len(x), 1)
    return output[:, 0].astype(np.float64)


def sql_prediction(model_bytes: bytes, x: np.ndarray, nan_as_null: bool) -> np.ndarray:
    arrays = [pa.array(np.arange(len(x), dtype=np.int64))]
    for j in range(N_FEATURES):
        values = x[:, j].astype(np.float64)
        arrays.append(pa.array(values, mask=np.isnan(values) if nan_as_null else None))
    with duckdb.connect() as connection:
        connection.register("rows_arrow", pa.Table.from_arrays(arrays, names=["id", *COLUMNS]))
        scorer = compile_onnx(onnx.load_from_string(model_bytes), COLUMNS)
        sql = scorer.select_sql("rows_arrow", ["id"])
        result = connection.sql(f"select id, score from ({sql}) order by id").fetchnumpy()
    assert result["id"].tolist() == list(range(len(x)))
    return np.asarray(result["score"], dtype=np.float64)


def max_relative_difference(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(got - expected) / np.abs(expected)))


@pytest.fixture(scope="module")
def fitted():
    x, y = revenue_data()
    models = regression_candidate_models(seed=11)
    for pipeline in models.values():
        pipeline.fit(x, y)
    return x, models


def test_skl2onnx_leaves_the_exp_link_out_of_boosted_poisson_trees(fitted):
    """Why append_exp_link exists: the converted trees give log(prediction)."""
    x, models = fitted
    pipeline = models["poisson_gradient_boosting"]
    raw = to_onnx(
        pipeline,
        initial_types=[("features", FloatTensorType([None, N_FEATURES]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    ).SerializeToString()
    assert not ends_with_exp(raw)
    expected = pipeline.predict(x)
    np.testing.assert_allclose(onnxruntime_prediction(raw, x), np.log(expected), rtol=0, atol=1e-4)
    assert np.max(np.abs(onnxruntime_prediction(raw, x) - expected)) > 1.0


@pytest.mark.parametrize("family", ["poisson_regression", "poisson_gradient_boosting"])
def test_exported_regressors_equal_sklearn_in_onnxruntime(fitted, family):
    x, models = fitted
    model_bytes = export_regression_onnx(models[family], N_FEATURES)
    assert ends_with_exp(model_bytes)
    graph = onnx.load_from_string(model_bytes).graph
    # The GLM's converter writes the Exp itself; only the trees get one appended.
    assert [node.op_type for node in graph.node].count("Exp") == 1
    assert [output.name for output in graph.output] == ["variable"]
    expected = models[family].predict(x)
    got = onnxruntime_prediction(model_bytes, x)
    assert max_relative_difference(got, expected) <= RELATIVE_TOLERANCE
    assert (got > 0).all()


@pytest.mark.parametrize("family", ["poisson_regression", "poisson_gradient_boosting"])
@pytest.mark.parametrize("nan_as_null", [True, False])
def test_sql_equals_onnxruntime_for_the_regression_families(fitted, family, nan_as_null):
    x, models = fitted
    model_bytes = export_regression_onnx(models[family], N_FEATURES)
    assert np.isnan(x).any()
    expected = onnxruntime_prediction(model_bytes, x)
    got = sql_prediction(model_bytes, x, nan_as_null)
    assert not np.isnan(got).any()
    assert max_relative_difference(got, expected) <= RELATIVE_TOLERANCE


def test_plain_tree_and_linear_regressors_compile_too():
    """A squared-error tree ensemble (TreeEnsembleRegressor alone) and an ordinary least
    squares pipeline (MatMul + Add, no link) score in SQL as in onnxruntime."""
    x, y = revenue_data(n=1500, seed=5, nan_rate=0.0)
    for pipeline in (
        Pipeline([("model", HistGradientBoostingRegressor(max_iter=30, random_state=0))]),
        Pipeline([("model", LinearRegression())]),
    ):
        pipeline.fit(x, y)
        model_bytes = export_regression_onnx(pipeline, N_FEATURES)
        assert not ends_with_exp(model_bytes)
        expected = onnxruntime_prediction(model_bytes, x)
        got = sql_prediction(model_bytes, x, nan_as_null=True)
        # OLS predictions cross zero, where onnxruntime's float32 sum cancels: relative to
        # the typical prediction there.
        scale = np.maximum(np.abs(expected), np.abs(expected).mean())
        assert float(np.max(np.abs(got - expected) / scale)) <= RELATIVE_TOLERANCE


def test_append_exp_link_keeps_the_output_name_and_refuses_two_outputs(fitted):
    x, models = fitted
    pipeline = models["poisson_gradient_boosting"]
    raw = to_onnx(
        pipeline,
        initial_types=[("features", FloatTensorType([None, N_FEATURES]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    ).SerializeToString()
    linked = append_exp_link(raw)
    np.testing.assert_allclose(
        onnxruntime_prediction(linked, x),
        np.exp(onnxruntime_prediction(raw, x)),
        rtol=1e-6,
    )
    model = onnx.load_from_string(raw)
    model.graph.output.append(onnx.helper.make_tensor_value_info("extra", 1, [None, 1]))
    with pytest.raises(ValueError, match="one graph output"):
        append_exp_link(model.SerializeToString())
