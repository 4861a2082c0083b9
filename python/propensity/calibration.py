"""Platt calibration of a classifier's probabilities, fitted on out-of-time predictions and
appended to the model's ONNX graph so that the calibrated model still scores in SQL.

The map is q = sigmoid(slope * logit(p) + intercept), with p clipped to [1e-7, 1 - 1e-7]. It is
increasing whenever slope > 0, so it never changes a ranking (ROC-AUC, PR-AUC, lift); it moves
probabilities, which log loss, Brier, calibration error and expected profit read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper
from sklearn.linear_model import LogisticRegression

CLIP = 1e-7
PROBABILITY_OUTPUT = "probabilities"


@dataclass(frozen=True)
class PlattCalibration:
    """q = sigmoid(slope * logit(p) + intercept)."""

    slope: float
    intercept: float

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """The calibrated probabilities of positive-class probabilities p."""
        return 1.0 / (1.0 + np.exp(-(self.slope * logit(probabilities) + self.intercept)))


def logit(probabilities: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) with p clipped away from 0 and 1, as the ONNX graph computes it."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), CLIP, 1 - CLIP)
    return np.log(p) - np.log(1 - p)


def fit_platt(labels: np.ndarray, probabilities: np.ndarray) -> PlattCalibration | None:
    """Platt scaling fitted by (nearly unpenalised) logistic regression on logit(p).

    None when the labels hold one class or the fitted slope is not positive (a map that
    would reverse the ranking is refused, not applied).
    """
    labels = np.asarray(labels).astype(int)
    if len(labels) == 0 or labels.min() == labels.max():
        return None
    regression = LogisticRegression(C=1e6, max_iter=1000)
    regression.fit(logit(probabilities).reshape(-1, 1), labels)
    slope = float(regression.coef_[0, 0])
    if slope <= 0:
        return None
    return PlattCalibration(slope=slope, intercept=float(regression.intercept_[0]))


def append_to_onnx(model_bytes: bytes, calibration: PlattCalibration) -> bytes:
    """The ONNX model with the Platt map applied to its probability output.

    Elementwise on both columns: column j holds sigmoid(slope * logit(p_j) + b_j) with
    b = (-intercept, +intercept), which is (1 - q, q) because logit(p_0) = -logit(p_1).
    """
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    raw = f"uncalibrated_{PROBABILITY_OUTPUT}"
    outputs = {output.name for output in graph.output}
    if PROBABILITY_OUTPUT not in outputs:
        raise ValueError(f"the ONNX graph has no {PROBABILITY_OUTPUT!r} output")
    for node in graph.node:
        node.output[:] = [raw if name == PROBABILITY_OUTPUT else name for name in node.output]
    constants = {
        "platt_clip_low": np.array(CLIP, dtype=np.float32),
        "platt_clip_high": np.array(1 - CLIP, dtype=np.float32),
        "platt_one": np.array(1.0, dtype=np.float32),
        "platt_slope": np.array([calibration.slope] * 2, dtype=np.float32),
        "platt_intercept": np.array(
            [-calibration.intercept, calibration.intercept], dtype=np.float32
        ),
    }
    graph.initializer.extend(numpy_helper.from_array(v, name=k) for k, v in constants.items())
    graph.node.extend(
        [
            helper.make_node("Clip", [raw, "platt_clip_low", "platt_clip_high"], ["platt_p"]),
            helper.make_node("Log", ["platt_p"], ["platt_log_p"]),
            helper.make_node("Sub", ["platt_one", "platt_p"], ["platt_q"]),
            helper.make_node("Log", ["platt_q"], ["platt_log_q"]),
            helper.make_node("Sub", ["platt_log_p", "platt_log_q"], ["platt_logit"]),
            helper.make_node("Mul", ["platt_logit", "platt_slope"], ["platt_scaled"]),
            helper.make_node("Add", ["platt_scaled", "platt_intercept"], ["platt_shifted"]),
            helper.make_node("Sigmoid", ["platt_shifted"], [PROBABILITY_OUTPUT]),
        ]
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()
