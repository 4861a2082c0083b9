"""Platt calibration: the fit recovers a known map, and the map appended to the ONNX graph
scores the same in onnxruntime, in Python and in the compiled SQL."""

from __future__ import annotations

import duckdb
import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest

from propensity.calibration import PlattCalibration, append_to_onnx, fit_platt, logit
from propensity.onnx_sql import compile_onnx
from propensity.train import candidate_models, export_onnx

COLUMNS = ["f0", "f1", "f2"]


def test_fit_platt_recovers_the_map_that_generated_the_labels():
    rng = np.random.default_rng(3)
    probabilities = rng.uniform(0.01, 0.6, 200_000)
    truth = PlattCalibration(slope=0.6, intercept=-1.2)
    labels = rng.random(len(probabilities)) < truth.apply(probabilities)
    fitted = fit_platt(labels, probabilities)
    assert fitted is not None
    assert fitted.slope == pytest.approx(0.6, abs=0.03)
    assert fitted.intercept == pytest.approx(-1.2, abs=0.05)


def test_fit_platt_refuses_one_class_and_reversing_maps():
    assert fit_platt(np.zeros(10), np.linspace(0.1, 0.9, 10)) is None
    # Labels that fall as the score rises would need a negative slope.
    scores = np.linspace(0.05, 0.95, 400)
    labels = np.random.default_rng(0).random(400) < 1 - scores
    assert fit_platt(labels, scores) is None


def test_logit_and_apply_are_inverse_of_the_sigmoid():
    p = np.array([1e-9, 0.2, 0.5, 0.9, 1.0])
    assert logit(p)[2] == 0.0
    identity = PlattCalibration(slope=1.0, intercept=0.0)
    np.testing.assert_allclose(identity.apply(p[1:4]), p[1:4], rtol=1e-12)


@pytest.mark.parametrize("family", ["logistic_regression", "hist_gradient_boosting"])
def test_calibrated_onnx_matches_python_and_sql(family):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(4000, 3)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    y = rng.random(4000) < 1 / (1 + np.exp(-(np.nan_to_num(x[:, 0]) * 1.5 - 2)))
    model = candidate_models(seed=1)[family].fit(x[:3000], y[:3000])
    calibration = PlattCalibration(slope=0.7, intercept=-0.4)
    onnx_bytes = append_to_onnx(export_onnx(model, 3), calibration)

    expected = calibration.apply(model.predict_proba(x)[:, 1])
    from_onnx = ort.InferenceSession(onnx_bytes).run(None, {"features": x})[1]
    np.testing.assert_allclose(from_onnx[:, 1], expected, atol=1e-5)
    np.testing.assert_allclose(from_onnx.sum(axis=1), 1.0, atol=1e-6)

    scorer = compile_onnx(onnx.load_from_string(onnx_bytes), COLUMNS)
    frame = pd.DataFrame(x.astype(np.float64), columns=COLUMNS)
    frame["customer_id"] = np.arange(len(frame))
    frame["snapshot_date"] = pd.Timestamp("2026-11-01")
    with duckdb.connect() as connection:
        connection.register("features", frame)
        scored = connection.execute(
            scorer.select_sql("features", ["customer_id", "snapshot_date"])
            + " order by customer_id"
        ).df()
    assert np.abs(scored["score"].to_numpy() - from_onnx[:, 1]).max() <= 1e-5


def test_append_to_onnx_needs_a_probability_output():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    model = candidate_models(seed=1)["logistic_regression"].fit(x, x[:, 0] > 0)
    graph = onnx.load_from_string(export_onnx(model, 3))
    graph.graph.output[1].name = "renamed"
    with pytest.raises(ValueError, match="no 'probabilities' output"):
        append_to_onnx(graph.SerializeToString(), PlattCalibration(1.0, 0.0))
