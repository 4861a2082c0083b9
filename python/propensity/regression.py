"""The regression objective: candidate families for amounts (revenue), their ONNX export, and
the baseline rules a value model is measured against.

Revenue per customer over a horizon is zero for most customers and long-tailed for the rest,
so both families model log E[revenue | features] and are fitted by Poisson deviance, which
needs no transformation of the zeros, keeps the sum of predictions close to the sum of actuals
(the log link's canonical property) and is not dominated by the few largest spenders the way
squared error is:

* ``poisson_regression``: median imputation, standardisation and a ridge-penalised Poisson GLM
  (``PoissonRegressor``). skl2onnx writes it as MatMul + Add + Exp, the amount itself.
* ``poisson_gradient_boosting``: ``HistGradientBoostingRegressor(loss="poisson")``, trees of
  depth 3 (missing values handled natively). Interactions between features matter for value,
  unlike for up-sell: on the demo data (2,000 customers, mean out-of-time
  Poisson deviance over 4 folds, 90d / 365d) depth 3 gives 318 / 528 where depth-1 trees (the
  up-sell family's additive shapes) give 336 / 612 and the GLM 346 / 643; 400 trees at half
  the learning rate or depth 4 gain under 1%. skl2onnx 1.20 converts it to a
  TreeEnsembleRegressor WITHOUT the exp link (the raw log prediction), so
  ``append_exp_link`` appends the Exp node; ``export_regression_onnx`` checks the graph's last
  node so that a converter that adds the link itself is not exponentiated twice.

The family is chosen by the lowest mean out-of-time Poisson deviance over the backtest folds:
the loss both families minimise, defined for zero actuals, and the one that rewards getting
the amounts right rather than only the order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
import pandas as pd
from onnx import helper
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import PoissonRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

REGRESSION_FAMILIES = ("poisson_regression", "poisson_gradient_boosting")
LOG_LINK_OUTPUT = "log_prediction"
# RFM: each of recency, frequency and monetary value cut into this many quantile groups.
RFM_GROUPS = 5
RULE_KINDS = ("rank_average", "rfm", "run_rate")


class BaselineRuleError(ValueError):
    """A declared baseline rule cannot be read."""


def regression_candidate_models(seed: int) -> dict[str, Pipeline]:
    """The regression families compared for amount tasks, unfitted."""
    return {
        "poisson_regression": Pipeline(
            [
                ("impute", SimpleImputer(strategy="median")),
                ("scale", StandardScaler()),
                # A light ridge penalty: the features are standardised, and several are
                # near-duplicates (30- and 90-day windows), which an unpenalised fit splits
                # between them unstably.
                ("model", PoissonRegressor(alpha=1e-3, max_iter=1000)),
            ]
        ),
        "poisson_gradient_boosting": Pipeline(
            [
                (
                    "model",
                    # 200 trees of depth 3 at learning rate 0.1 (see the module docstring).
                    HistGradientBoostingRegressor(
                        loss="poisson",
                        learning_rate=0.1,
                        max_iter=200,
                        max_depth=3,
                        min_samples_leaf=100,
                        l2_regularization=1.0,
                        early_stopping=False,
                        random_state=seed,
                    ),
                )
            ]
        ),
    }


def append_exp_link(model_bytes: bytes) -> bytes:
    """The ONNX model with exp() applied to its one output (the log link's inverse).

    The output keeps its name; the node that produced it now writes ``log_prediction``.
    """
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    if len(graph.output) != 1:
        raise ValueError(f"expected one graph output, found {[o.name for o in graph.output]}")
    output = graph.output[0].name
    for node in graph.node:
        node.output[:] = [LOG_LINK_OUTPUT if name == output else name for name in node.output]
    graph.node.append(helper.make_node("Exp", [LOG_LINK_OUTPUT], [output], name="exp_link"))
    onnx.checker.check_model(model)
    return model.SerializeToString()


def ends_with_exp(model_bytes: bytes) -> bool:
    """Whether the node producing the graph's output (through Reshape/Identity) is an Exp."""
    graph = onnx.load_from_string(model_bytes).graph
    producer = {name: node for node in graph.node for name in node.output}
    node = producer.get(graph.output[0].name)
    while node is not None and node.op_type in ("Reshape", "Identity", "Flatten"):
        node = producer.get(node.input[0])
    return node is not None and node.op_type == "Exp"


def export_regression_onnx(pipeline: Pipeline, n_features: int) -> bytes:
    """The fitted regression pipeline as ONNX bytes whose one output is the predicted amount."""
    onnx_model = to_onnx(
        pipeline,
        initial_types=[("features", FloatTensorType([None, n_features]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    model_bytes = onnx_model.SerializeToString()
    if uses_log_link(pipeline) and not ends_with_exp(model_bytes):
        model_bytes = append_exp_link(model_bytes)
    return model_bytes


def uses_log_link(pipeline: Pipeline) -> bool:
    """Whether the pipeline's estimator predicts exp(raw score) (Poisson, gamma, tweedie)."""
    estimator = pipeline.steps[-1][1]
    if isinstance(estimator, HistGradientBoostingRegressor):
        return estimator.loss in ("poisson", "gamma")
    return isinstance(estimator, PoissonRegressor)


# --------------------------------------------------------------------------------------------
# Baseline rules
# --------------------------------------------------------------------------------------------


def rule_of(name: str, declaration: object) -> dict:
    """A baseline declaration in its long form: a list of columns is a rank_average rule."""
    if isinstance(declaration, list | tuple):
        return {"rule": "rank_average", "columns": list(declaration)}
    if not isinstance(declaration, Mapping):
        raise BaselineRuleError(f"baseline {name}: a list of columns or a mapping with a rule")
    rule = dict(declaration)
    kind = rule.get("rule", "rank_average")
    if kind not in RULE_KINDS:
        raise BaselineRuleError(f"baseline {name}: rule {kind!r} is not one of {RULE_KINDS}")
    rule["rule"] = kind
    return rule


def percentile_rank(values: pd.Series, small_first: bool = False) -> np.ndarray:
    """Percentile ranks in (0, 1] (ties share their average rank); missing values rank 0."""
    values = values.astype("float64")
    if small_first:
        values = -values
    return values.rank(method="average", pct=True).fillna(0.0).to_numpy()


def rfm_score(
    frame: pd.DataFrame, recency: str, frequency: str, monetary: str, groups: int = RFM_GROUPS
) -> np.ndarray:
    """The classic RFM score: recency, frequency and monetary value each cut into quintiles of
    the rows (1 = worst, 5 = best; ties share their average rank, so equal values always share
    a group) and summed, 3 to 15. Recent is better (small days since the last order); a missing
    value (a customer who never ordered) is in the worst group."""
    total = np.zeros(len(frame))
    for column, small_first in ((recency, True), (frequency, False), (monetary, False)):
        ranks = percentile_rank(frame[column], small_first)
        total += np.where(ranks > 0, np.ceil(ranks * groups - 1e-9), 1).clip(1, groups)
    return total


def run_rate(
    frame: pd.DataFrame,
    amount: str,
    horizon_days: int,
    amount_days: float | None = None,
    exposure: str | None = None,
) -> np.ndarray:
    """The customer's historical spend rate scaled to the horizon: amount / days x horizon.

    days is amount_days (the window the amount covers, e.g. 91.3 for 3 months), shortened to
    the exposure column (e.g. tenure_days) for customers who have not been around that long;
    with no amount_days, the exposure alone (lifetime spend / tenure). A missing amount is 0.
    """
    if amount_days is None and exposure is None:
        raise BaselineRuleError("run_rate needs amount_days, exposure or both")
    spend = frame[amount].astype("float64").fillna(0.0).to_numpy()
    days = np.full(len(frame), np.inf if amount_days is None else float(amount_days))
    if exposure is not None:
        days = np.minimum(days, frame[exposure].astype("float64").fillna(np.inf).to_numpy())
    # At least one day of exposure; a customer with no known exposure has no rate (0).
    days = np.maximum(days, 1.0)
    return np.where(np.isfinite(days), spend / days * horizon_days, 0.0)


def regression_baseline_scores(
    frame: pd.DataFrame, rules: Mapping[str, object], horizon_days: int
) -> tuple[dict[str, np.ndarray], set[str]]:
    """Each declared rule's scores for the rows of `frame`, and which of them are amounts.

    rank_average (a list of columns, as for classification) and rfm rank customers; run_rate
    predicts an amount, so the error metrics apply to it too. A rule whose columns are not all
    in the frame is left out.
    """
    scores: dict[str, np.ndarray] = {}
    amounts: set[str] = set()
    for name, declaration in rules.items():
        rule = rule_of(name, declaration)
        kind = rule["rule"]
        if kind == "rank_average":
            present = [c for c in rule.get("columns", []) if c.lstrip("-") in frame]
            if present:
                scores[name] = np.mean(
                    [percentile_rank(frame[c.lstrip("-")], c.startswith("-")) for c in present],
                    axis=0,
                )
        elif kind == "rfm":
            columns = [rule.get(key) for key in ("recency", "frequency", "monetary")]
            if all(isinstance(c, str) and c in frame for c in columns):
                scores[name] = rfm_score(frame, *columns)
        else:
            amount, exposure = rule.get("amount"), rule.get("exposure")
            needed: Sequence[object] = [amount] + ([exposure] if exposure else [])
            if all(isinstance(c, str) and c in frame for c in needed):
                scores[name] = run_rate(
                    frame, amount, horizon_days, rule.get("amount_days"), exposure
                )
                amounts.add(name)
    return scores, amounts
