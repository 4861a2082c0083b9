"""Uplift models on randomised campaign history: who is moved by a campaign, not who converts.

Two learners, each with the logistic and the boosted-stump family of `train.candidate_models`:

* two_model (T-learner): one classifier on the treated rows, one on the control rows;
  uplift = p_treated(x) - p_control(x).
* class_transformation: Z = 1 for a treated converter or a control non-converter, else 0. With
  both arms weighted equally (weights 0.5 / e for treated rows and 0.5 / (1 - e) for control
  rows, e the treated share) P(Z = 1 | x) = (1 + uplift(x)) / 2, so uplift = 2 P(Z = 1 | x) - 1.

Each fitted learner is exported as one ONNX graph whose single output `uplift` ([N, 1]) is the
predicted uplift (two classifiers and a Sub node; or the classifier and Mul/Add nodes), which
`onnx_sql` compiles to one SQL SELECT. The response model they are compared with is plain
propensity targeting: the classifier of the outcome on treated rows (the two-model learner's
treated half). `fit_uplift` fits every learner, measures each on held-out rows with the
metrics of `uplift_metrics` and keeps the one with the best held-out Qini coefficient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
import pandas as pd
from onnx import helper, numpy_helper
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from propensity.onnx_sql import CompiledScorer, compile_onnx
from propensity.train import candidate_models, export_onnx, feature_matrix
from propensity.uplift_metrics import DEFAULT_SHARES, curve_points, uplift_summary

LEARNERS = ("two_model", "class_transformation")
UPLIFT_FAMILIES = ("logistic_regression", "hist_gradient_boosting")
UPLIFT_OUTPUT = "uplift"
INPUT_NAME = "features"
PROBABILITIES = "probabilities"
RESPONSE = "response"
RANDOM = "random"


class UpliftDataError(ValueError):
    """The rows cannot train an uplift model."""


@dataclass(frozen=True)
class UpliftModel:
    """A fitted uplift learner: its classifiers by role (treated/control, or transformed)."""

    learner: str
    family: str
    classifiers: Mapping[str, Pipeline]

    @property
    def name(self) -> str:
        """learner__family, the name metrics and the registry use."""
        return f"{self.learner}__{self.family}"

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The predicted uplift of each row, from scikit-learn (float64)."""
        if self.learner == "two_model":
            treated = self.classifiers["treated"].predict_proba(features)[:, 1]
            return treated - self.classifiers["control"].predict_proba(features)[:, 1]
        return 2.0 * self.classifiers["transformed"].predict_proba(features)[:, 1] - 1.0

    def to_onnx(self, n_features: int) -> bytes:
        """One ONNX graph with input `features` and output `uplift` ([N, 1])."""
        exported = {
            role: onnx.load_from_string(export_onnx(pipeline, n_features))
            for role, pipeline in self.classifiers.items()
        }
        graphs = {role: _prefixed(model.graph, f"{role}_") for role, model in exported.items()}
        nodes = [node for graph in graphs.values() for node in graph.node]
        initializers = [tensor for graph in graphs.values() for tensor in graph.initializer]
        constants = {"uplift_positive_column": np.array([1], dtype=np.int64)}
        if self.learner == "two_model":
            difference = [
                helper.make_node(
                    "Sub",
                    [f"treated_{PROBABILITIES}", f"control_{PROBABILITIES}"],
                    ["uplift_both_columns"],
                )
            ]
        else:
            constants |= {
                "uplift_two": np.array(2.0, dtype=np.float32),
                "uplift_minus_one": np.array(-1.0, dtype=np.float32),
            }
            difference = [
                helper.make_node(
                    "Mul", [f"transformed_{PROBABILITIES}", "uplift_two"], ["uplift_doubled"]
                ),
                helper.make_node(
                    "Add", ["uplift_doubled", "uplift_minus_one"], ["uplift_both_columns"]
                ),
            ]
        nodes += difference
        nodes.append(
            helper.make_node(
                "ArrayFeatureExtractor",
                ["uplift_both_columns", "uplift_positive_column"],
                [UPLIFT_OUTPUT],
                domain="ai.onnx.ml",
            )
        )
        initializers += [numpy_helper.from_array(v, name=k) for k, v in constants.items()]
        first = next(iter(graphs.values()))
        graph = helper.make_graph(
            nodes,
            f"uplift_{self.name}",
            [first.input[0]],
            [helper.make_tensor_value_info(UPLIFT_OUTPUT, onnx.TensorProto.FLOAT, [None, 1])],
            initializer=initializers,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
        )
        model.ir_version = next(iter(exported.values())).ir_version
        onnx.checker.check_model(model)
        return model.SerializeToString()


def _prefixed(graph: onnx.GraphProto, prefix: str) -> onnx.GraphProto:
    """A classifier's graph with every name but the input's prefixed (so two can share one
    graph)."""
    keep = {INPUT_NAME, ""}

    def rename(name: str) -> str:
        return name if name in keep else f"{prefix}{name}"

    for node in graph.node:
        node.input[:] = [rename(name) for name in node.input]
        node.output[:] = [rename(name) for name in node.output]
        node.name = rename(node.name) if node.name else node.name
    for tensor in graph.initializer:
        tensor.name = rename(tensor.name)
    if graph.input[0].name != INPUT_NAME:
        raise UpliftDataError(f"the classifier's ONNX input is {graph.input[0].name!r}")
    return graph


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------


def check_experiment(treatment: np.ndarray, outcome: np.ndarray) -> None:
    """Both arms present, with conversions and non-conversions in each."""
    for arm, name in ((1, "treated"), (0, "control")):
        rows = outcome[treatment == arm]
        if len(rows) == 0:
            raise UpliftDataError(f"no {name} rows: an uplift model needs both arms")
        if rows.min() == rows.max():
            raise UpliftDataError(f"every {name} row has outcome {int(rows[0])}: nothing to learn")


def fit_learner(
    learner: str,
    family: str,
    features: np.ndarray,
    treatment: np.ndarray,
    outcome: np.ndarray,
    seed: int,
) -> UpliftModel:
    """Fit one learner with one classifier family."""
    families = candidate_models(seed)
    if family not in families:
        raise UpliftDataError(f"unknown model family {family!r}; known: {', '.join(families)}")
    check_experiment(treatment, outcome)
    if learner == "two_model":
        classifiers = {}
        for role, arm in (("treated", 1), ("control", 0)):
            rows = treatment == arm
            classifiers[role] = clone(families[family]).fit(features[rows], outcome[rows])
        return UpliftModel(learner, family, classifiers)
    if learner == "class_transformation":
        transformed = (treatment == outcome).astype(int)
        share = treatment.mean()
        weights = np.where(treatment == 1, 0.5 / share, 0.5 / (1 - share))
        pipeline = clone(families[family]).fit(features, transformed, model__sample_weight=weights)
        return UpliftModel(learner, family, {"transformed": pipeline})
    raise UpliftDataError(f"unknown learner {learner!r}; known: {', '.join(LEARNERS)}")


@dataclass(frozen=True)
class UpliftFit:
    """The chosen uplift learner, exported and compiled, with every learner's held-out figures."""

    chosen: str
    model: UpliftModel
    feature_columns: tuple[str, ...]
    onnx_bytes: bytes
    scorer: CompiledScorer
    # name -> uplift_summary on the held-out rows (learners, the response model, random).
    metrics: dict[str, dict[str, float]]
    # name -> Qini curve points (share targeted, incremental conversions per customer).
    curves: dict[str, list[tuple[float, float]]]
    # The held-out rows' treatment, outcome and every scorer's score (uplift or response).
    holdout_scores: pd.DataFrame
    training_rows: int

    def select_sql(self, relation: str, passthrough_columns: Sequence[str]) -> str:
        """The chosen learner's uplift as SQL over a relation holding the feature columns."""
        return self.scorer.select_sql(relation, passthrough_columns, score_column="score")


def fit_uplift(
    frame: pd.DataFrame,
    feature_columns: Sequence[str],
    treatment_column: str,
    outcome_column: str,
    holdout: np.ndarray,
    *,
    seed: int = 20261125,
    learners: Sequence[str] = LEARNERS,
    families: Sequence[str] = UPLIFT_FAMILIES,
    shares: Sequence[float] = DEFAULT_SHARES,
    oracle_column: str | None = None,
) -> UpliftFit:
    """Fit every learner x family on the rows outside `holdout`, measure them and the response
    model on the held-out rows, keep the best held-out Qini coefficient; export it to ONNX and
    compile it to SQL. `oracle_column` (the true uplift, on demo or planted data) adds the gap
    to the best possible ranking."""
    columns = tuple(feature_columns)
    missing = [c for c in (*columns, treatment_column, outcome_column) if c not in frame]
    if missing:
        raise UpliftDataError(f"the rows lack columns: {', '.join(missing)}")
    holdout = np.asarray(holdout, dtype=bool)
    if holdout.all() or not holdout.any():
        raise UpliftDataError("the split leaves no training or no held-out rows")
    features = feature_matrix(frame, columns)
    treatment = frame[treatment_column].to_numpy(dtype=np.int64)
    outcome = frame[outcome_column].to_numpy(dtype=np.int64)
    train, test = ~holdout, holdout
    check_experiment(treatment[test], outcome[test])
    fitted = {
        model.name: model
        for learner in learners
        for family in families
        for model in [
            fit_learner(learner, family, features[train], treatment[train], outcome[train], seed)
        ]
    }
    scores: dict[str, np.ndarray] = {
        name: model.predict(features[test]) for name, model in fitted.items()
    }
    # The response models: the outcome classifier on treated rows, of each family.
    for family in families:
        response = fitted.get(f"two_model__{family}") or fit_learner(
            "two_model", family, features[train], treatment[train], outcome[train], seed
        )
        treated_model = response.classifiers["treated"]
        scores[f"{RESPONSE}__{family}"] = treated_model.predict_proba(features[test])[:, 1]
    scores[RANDOM] = np.zeros(int(test.sum()))  # one tied block: the random-targeting line
    oracle = frame.loc[test, oracle_column].to_numpy() if oracle_column else None
    metrics = {
        name: uplift_summary(score, treatment[test], outcome[test], shares=shares, oracle=oracle)
        for name, score in scores.items()
    }
    curves = {
        name: curve_points(score, treatment[test], outcome[test]) for name, score in scores.items()
    }
    if oracle is not None:
        curves["oracle"] = curve_points(oracle, treatment[test], outcome[test])
    chosen = max(fitted, key=lambda name: (metrics[name]["qini"], name))
    model = fitted[chosen]
    onnx_bytes = model.to_onnx(len(columns))
    holdout_scores = pd.DataFrame(
        {"treatment": treatment[test], "outcome": outcome[test]}
        | {f"score__{name}": score for name, score in scores.items()},
        index=frame.index[test],
    )
    return UpliftFit(
        chosen=chosen,
        model=model,
        feature_columns=columns,
        onnx_bytes=onnx_bytes,
        scorer=compile_onnx(onnx.load_from_string(onnx_bytes), columns),
        metrics=metrics,
        curves=curves,
        holdout_scores=holdout_scores,
        training_rows=int(train.sum()),
    )


def holdout_periods(periods: pd.Series, min_share: float = 0.15) -> np.ndarray:
    """The newest periods, enough to hold out at least `min_share` of the rows (never all of
    them): a mask of the held-out rows."""
    counts = periods.value_counts().sort_index(ascending=False)
    if len(counts) < 2:
        raise UpliftDataError("the rows fall into one period: nothing to hold out")
    # How many of the newest periods it takes to reach the share (at most all but one).
    needed = int(np.searchsorted(counts.cumsum().to_numpy(), min_share * len(periods))) + 1
    return periods.isin(counts.index[: min(needed, len(counts) - 1)]).to_numpy()


# --------------------------------------------------------------------------------------------
# The persuadables audience
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignEconomics:
    """What a conversion is worth and what a contact costs."""

    value: float  # revenue of one conversion
    margin: float  # the share of that revenue that is profit (0..1)
    cost: float  # cost of contacting one customer

    def __post_init__(self) -> None:
        """Refuse economics that cannot price a contact."""
        if not self.value > 0 or not 0 < self.margin <= 1 or self.cost < 0:
            raise UpliftDataError(
                f"want value > 0, 0 < margin <= 1 and cost >= 0; got value {self.value}, "
                f"margin {self.margin}, cost {self.cost}"
            )


@dataclass(frozen=True)
class PersuadablesAudience:
    """The customers worth contacting: their keys, uplift and expected incremental profit,
    most profitable first, and what the audience is expected to earn."""

    rows: pd.DataFrame
    expected_incremental_profit: float
    expected_incremental_conversions: float
    candidates: int
    negative_uplift: int

    def summary(self) -> dict[str, float]:
        """The audience in figures, for the registry and the report."""
        return {
            "audience_size": float(len(self.rows)),
            "expected_incremental_profit": self.expected_incremental_profit,
            "expected_incremental_conversions": self.expected_incremental_conversions,
            "candidates": float(self.candidates),
            "negative_uplift": float(self.negative_uplift),
        }


def persuadables_audience(
    scores: pd.DataFrame,
    economics: CampaignEconomics,
    *,
    key_columns: Sequence[str],
    uplift_column: str = "score",
) -> PersuadablesAudience:
    """Customers with positive predicted uplift whose expected incremental margin
    (uplift x value x margin) exceeds the contact cost, ordered by expected incremental profit
    (uplift x value x margin - cost; ties by key). Customers with negative uplift (sleeping
    dogs) never enter, whatever the cost."""
    keys = list(key_columns)
    uplift = scores[uplift_column].astype("float64")
    profit = uplift * economics.value * economics.margin - economics.cost
    audience = scores[keys].assign(uplift=uplift, expected_incremental_profit=profit)
    audience = audience[(uplift > 0) & (profit > 0)]
    audience = audience.sort_values(
        ["expected_incremental_profit", *keys], ascending=[False] + [True] * len(keys)
    ).reset_index(drop=True)
    audience.insert(0, "audience_rank", np.arange(1, len(audience) + 1))
    return PersuadablesAudience(
        rows=audience,
        expected_incremental_profit=float(audience["expected_incremental_profit"].sum()),
        expected_incremental_conversions=float(audience["uplift"].sum()),
        candidates=len(scores),
        negative_uplift=int((uplift < 0).sum()),
    )
