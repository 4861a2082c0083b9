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
treated half).

`fit_uplift` never lets the held-out rows choose or calibrate. It splits the training rows into
K folds (whole groups, e.g. customers, in one fold) and gives every learner x family
out-of-fold predictions; the learner with the best out-of-fold Qini (pooled over the folds) is
chosen. Its uplift is calibrated by a linear map a + b x raw, the least-squares fit of the IPW
pseudo-outcome z = y (t / e - (1 - t) / (1 - e)) (E[z | x] is the true uplift in a randomised
experiment; e the treated share of the row's stratum) on its out-of-fold predictions; when
b <= 0 the ranking carries no signal and the calibrated uplift is the constant mean of z. The
learner refitted on all training rows, with the map (and a clip to [-1, 1]) appended to its
ONNX graph, is the model; the held-out rows only report (`uplift_metrics`, calibration bins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import onnx
import pandas as pd
from onnx import helper, numpy_helper
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from propensity.onnx_sql import CompiledScorer, compile_onnx
from propensity.train import candidate_models, export_onnx, feature_matrix
from propensity.uplift_metrics import (
    DEFAULT_SHARES,
    curve_points,
    qini_coefficient,
    uplift_summary,
)

LEARNERS = ("two_model", "class_transformation")
UPLIFT_FAMILIES = ("logistic_regression", "logistic_regression_strong", "hist_gradient_boosting")
UPLIFT_OUTPUT = "uplift"
INPUT_NAME = "features"
PROBABILITIES = "probabilities"
RESPONSE = "response"
RANDOM = "random"
DEFAULT_FOLDS = 3
CALIBRATION_BINS = 5
CALIBRATED = "calibrated"


class UpliftDataError(ValueError):
    """The rows cannot train an uplift model."""


@dataclass(frozen=True)
class UpliftCalibration:
    """calibrated = clip(intercept + slope x raw, -1, 1); slope 0 and intercept = the mean
    pseudo-outcome when the out-of-fold ranking carries no signal."""

    intercept: float = 0.0
    slope: float = 1.0
    signal: bool = True

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """The calibrated uplift of raw predicted uplifts."""
        return np.clip(self.intercept + self.slope * np.asarray(raw, dtype=np.float64), -1, 1)


IDENTITY = UpliftCalibration()


@dataclass(frozen=True)
class UpliftModel:
    """A fitted uplift learner: its classifiers by role (treated/control, or transformed) and
    the linear calibration of its uplift (the identity until `fit_uplift` fits one)."""

    learner: str
    family: str
    classifiers: Mapping[str, Pipeline]
    calibration: UpliftCalibration = IDENTITY

    @property
    def name(self) -> str:
        """learner__family, the name metrics and the registry use."""
        return f"{self.learner}__{self.family}"

    def predict_raw(self, features: np.ndarray) -> np.ndarray:
        """The learner's uncalibrated uplift of each row, from scikit-learn (float64)."""
        if self.learner == "two_model":
            treated = self.classifiers["treated"].predict_proba(features)[:, 1]
            return treated - self.classifiers["control"].predict_proba(features)[:, 1]
        return 2.0 * self.classifiers["transformed"].predict_proba(features)[:, 1] - 1.0

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The calibrated predicted uplift of each row, from scikit-learn (float64)."""
        return self.calibration.apply(self.predict_raw(features))

    def to_onnx(self, n_features: int) -> bytes:
        """One ONNX graph with input `features` and output `uplift` ([N, 1]): the learner's
        uplift, then the calibration's Mul, Add and Clip to [-1, 1]."""
        exported = {
            role: onnx.load_from_string(export_onnx(pipeline, n_features))
            for role, pipeline in self.classifiers.items()
        }
        graphs = {role: _prefixed(model.graph, f"{role}_") for role, model in exported.items()}
        nodes = [node for graph in graphs.values() for node in graph.node]
        initializers = [tensor for graph in graphs.values() for tensor in graph.initializer]
        constants = {
            "uplift_positive_column": np.array([1], dtype=np.int64),
            "uplift_slope": np.array(self.calibration.slope, dtype=np.float32),
            "uplift_intercept": np.array(self.calibration.intercept, dtype=np.float32),
            "uplift_low": np.array(-1.0, dtype=np.float32),
            "uplift_high": np.array(1.0, dtype=np.float32),
        }
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
                ["uplift_raw"],
                domain="ai.onnx.ml",
            )
        )
        nodes += [
            helper.make_node("Mul", ["uplift_raw", "uplift_slope"], ["uplift_scaled"]),
            helper.make_node("Add", ["uplift_scaled", "uplift_intercept"], ["uplift_shifted"]),
            helper.make_node(
                "Clip", ["uplift_shifted", "uplift_low", "uplift_high"], [UPLIFT_OUTPUT]
            ),
        ]
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


def fold_ids(rows: int, folds: int, seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    """Each row's fold (0 .. folds - 1): the groups (each row its own without `groups`) dealt
    round-robin in a random order drawn from `seed`, so a group's rows share one fold."""
    if folds < 2:
        raise UpliftDataError(f"cross-fitting needs at least 2 folds, not {folds}")
    if groups is None:
        codes, count = np.arange(rows), rows
    else:
        codes, uniques = pd.factorize(pd.Series(np.asarray(groups)), sort=True)
        if (codes < 0).any():
            raise UpliftDataError(f"the group column is missing in {int((codes < 0).sum())} rows")
        count = len(uniques)
    if count < folds:
        raise UpliftDataError(f"{count} training groups cannot fill {folds} folds")
    fold_of_group = np.empty(count, dtype=np.int64)
    fold_of_group[np.random.default_rng(seed).permutation(count)] = np.arange(count) % folds
    return fold_of_group[codes]


def treated_shares(treatment: np.ndarray, strata: np.ndarray | None = None) -> np.ndarray:
    """e of each row: the treated share of its stratum (one stratum without `strata`)."""
    keys = np.zeros(len(treatment)) if strata is None else np.asarray(strata)
    frame = pd.DataFrame({"stratum": keys, "treatment": treatment})
    share = frame.groupby("stratum")["treatment"].transform("mean").to_numpy(dtype=np.float64)
    one_arm = sorted(map(str, frame.loc[(share == 0) | (share == 1), "stratum"].unique()))
    if one_arm:
        raise UpliftDataError(f"strata with one arm only (no IPW weight): {', '.join(one_arm)}")
    return share


def pseudo_outcome(treatment: np.ndarray, outcome: np.ndarray, share: np.ndarray) -> np.ndarray:
    """The IPW pseudo-outcome z = y (t / e - (1 - t) / (1 - e)); E[z | x] = uplift(x) when the
    treatment is randomised with probability e."""
    return outcome * (treatment / share - (1 - treatment) / (1 - share))


def fit_calibration(raw: np.ndarray, pseudo: np.ndarray) -> UpliftCalibration:
    """Least squares of the pseudo-outcome on the raw uplift; with slope <= 0 (or constant raw
    scores) the ranking carries no signal: the constant mean pseudo-outcome, signal False."""
    raw = np.asarray(raw, dtype=np.float64)
    pseudo = np.asarray(pseudo, dtype=np.float64)
    if np.ptp(raw) > 0:
        design = np.column_stack([np.ones_like(raw), raw])
        (intercept, slope), *_ = np.linalg.lstsq(design, pseudo, rcond=None)
        if slope > 0:
            return UpliftCalibration(float(intercept), float(slope), True)
    return UpliftCalibration(float(pseudo.mean()), 0.0, False)


def _arm_figures(predicted: np.ndarray, treatment: np.ndarray, outcome: np.ndarray) -> dict:
    """Mean predicted uplift against the observed one (treated - control rate, normal 95%
    interval) of a set of rows."""
    treated, control = outcome[treatment == 1], outcome[treatment == 0]
    rates = [arm.mean() if len(arm) else np.nan for arm in (treated, control)]
    observed = rates[0] - rates[1]
    error = np.sqrt(
        sum(
            rate * (1 - rate) / len(arm) if len(arm) else np.nan
            for rate, arm in zip(rates, (treated, control), strict=True)
        )
    )
    return {
        "rows": len(predicted),
        "treated_rows": len(treated),
        "control_rows": len(control),
        "mean_predicted": float(predicted.mean()),
        "treated_rate": float(rates[0]),
        "control_rate": float(rates[1]),
        "observed_uplift": float(observed),
        "observed_low": float(observed - 1.96 * error),
        "observed_high": float(observed + 1.96 * error),
    }


def calibration_bins(
    predicted: np.ndarray,
    treatment: np.ndarray,
    outcome: np.ndarray,
    *,
    bins: int = CALIBRATION_BINS,
    oracle: np.ndarray | None = None,
) -> dict[str, Any]:
    """Quantile bins of the predicted uplift (pandas qcut; one bin when all are tied): per bin
    and overall the mean predicted against the observed uplift, and the mean true uplift when
    `oracle` is given."""
    predicted = np.asarray(predicted, dtype=np.float64)
    treatment, outcome = np.asarray(treatment), np.asarray(outcome)
    if np.unique(predicted).size > 1:
        codes = pd.qcut(predicted, bins, labels=False, duplicates="drop").astype(np.int64)
    else:
        codes = np.zeros(len(predicted), dtype=np.int64)
    rows = []
    for code in np.unique(codes):
        inside = codes == code
        figures = {"bin": int(code) + 1} | _arm_figures(
            predicted[inside], treatment[inside], outcome[inside]
        )
        if oracle is not None:
            figures["mean_true"] = float(np.mean(oracle[inside]))
        rows.append(figures)
    overall = _arm_figures(predicted, treatment, outcome)
    if oracle is not None:
        overall["mean_true"] = float(np.mean(oracle))
    return {"bins": rows, "overall": overall}


@dataclass(frozen=True)
class UpliftFit:
    """The chosen uplift learner (chosen and calibrated on out-of-fold predictions of the
    training rows), exported and compiled, with every learner's held-out figures."""

    chosen: str
    model: UpliftModel
    feature_columns: tuple[str, ...]
    onnx_bytes: bytes
    scorer: CompiledScorer
    # name -> uplift_summary on the held-out rows (learners, the response model, random).
    metrics: dict[str, dict[str, float]]
    # name -> Qini curve points (share targeted, incremental conversions per customer).
    curves: dict[str, list[tuple[float, float]]]
    # The held-out rows' treatment, outcome, every scorer's raw score and the chosen learner's
    # calibrated uplift (`calibrated`, what the ONNX graph and its SQL give).
    holdout_scores: pd.DataFrame
    training_rows: int
    # The training rows' fold, treatment, outcome, treated share e, pseudo-outcome z and every
    # learner's out-of-fold raw uplift (score__<name>).
    oof_scores: pd.DataFrame
    # name -> the Qini coefficient of the learner's out-of-fold uplift, pooled over the folds.
    oof_qini: dict[str, float]
    # Mean predicted (calibrated) against observed uplift per quantile bin of the held-out rows.
    calibration_check: dict[str, Any]

    def select_sql(self, relation: str, passthrough_columns: Sequence[str]) -> str:
        """The chosen learner's uplift as SQL over a relation holding the feature columns."""
        return self.scorer.select_sql(relation, passthrough_columns, score_column="score")

    def calibration_label(self) -> str:
        """The registry's calibration column: uplift_linear (a + b x raw), or uplift_constant
        when the out-of-fold ranking carries no signal (the figures: `selection_figures`)."""
        return "uplift_linear" if self.model.calibration.signal else "uplift_constant"

    def selection_figures(self) -> dict[str, Any]:
        """How the learner was chosen and calibrated, with the held-out check (for the
        registry's evaluation and the report)."""
        calibration = self.model.calibration
        return {
            "selection": {
                "method": "out-of-fold Qini on the training rows",
                "folds": int(self.oof_scores["fold"].nunique()),
                "oof_qini": self.oof_qini,
            },
            "calibration": {
                "intercept": calibration.intercept,
                "slope": calibration.slope,
                "signal": calibration.signal,
                "rows": len(self.oof_scores),
                "mean_pseudo_outcome": float(self.oof_scores["pseudo_outcome"].mean()),
            },
            "calibration_check": self.calibration_check,
        }


def _cross_fitted(
    features: np.ndarray,
    treatment: np.ndarray,
    outcome: np.ndarray,
    fold: np.ndarray,
    names: Sequence[tuple[str, str]],
    seed: int,
) -> dict[str, np.ndarray]:
    """Every learner x family's out-of-fold raw uplift: each fold predicted by the learner
    fitted on the other folds."""
    oof = {f"{learner}__{family}": np.empty(len(fold)) for learner, family in names}
    for k in np.unique(fold):
        inside, outside = fold != k, fold == k
        for learner, family in names:
            try:
                model = fit_learner(
                    learner, family, features[inside], treatment[inside], outcome[inside], seed
                )
            except UpliftDataError as error:
                raise UpliftDataError(f"training rows outside fold {k}: {error}") from error
            oof[model.name][outside] = model.predict_raw(features[outside])
    return oof


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
    groups: np.ndarray | None = None,
    strata: np.ndarray | None = None,
    folds: int = DEFAULT_FOLDS,
) -> UpliftFit:
    """Choose and calibrate a learner on the rows outside `holdout`, measure every learner on
    the held-out rows, export the chosen one to ONNX and compile it to SQL.

    The training rows are split into `folds` folds (seeded; rows of one `groups` value in one
    fold); the learner x family with the best pooled out-of-fold Qini is chosen, and its uplift
    calibrated on its out-of-fold predictions (`fit_calibration`, e per `strata` value). The
    held-out rows never choose nor calibrate: they report each learner's Qini, AUUC and uplift
    at k% (and the response models'), and the calibration bins of the chosen learner.
    `oracle_column` (the true uplift, on demo or planted data) adds the gap to the best
    possible ranking."""
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
    names = [(learner, family) for learner in learners for family in families]
    fold = fold_ids(
        int(train.sum()), folds, seed, None if groups is None else np.asarray(groups)[train]
    )
    share = treated_shares(treatment[train], None if strata is None else np.asarray(strata)[train])
    pseudo = pseudo_outcome(treatment[train], outcome[train], share)
    oof = _cross_fitted(features[train], treatment[train], outcome[train], fold, names, seed)
    oof_qini = {
        name: qini_coefficient(score, treatment[train], outcome[train])
        for name, score in oof.items()
    }
    chosen = max(oof_qini, key=lambda name: (oof_qini[name], name))
    fitted = {
        model.name: model
        for learner, family in names
        for model in [
            fit_learner(learner, family, features[train], treatment[train], outcome[train], seed)
        ]
    }
    scores: dict[str, np.ndarray] = {
        name: model.predict_raw(features[test]) for name, model in fitted.items()
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
    model = replace(fitted[chosen], calibration=fit_calibration(oof[chosen], pseudo))
    calibrated = model.calibration.apply(scores[chosen])
    onnx_bytes = model.to_onnx(len(columns))
    holdout_scores = pd.DataFrame(
        {"treatment": treatment[test], "outcome": outcome[test]}
        | {f"score__{name}": score for name, score in scores.items()}
        | {CALIBRATED: calibrated},
        index=frame.index[test],
    )
    oof_scores = pd.DataFrame(
        {
            "fold": fold,
            "treatment": treatment[train],
            "outcome": outcome[train],
            "treated_share": share,
            "pseudo_outcome": pseudo,
        }
        | {f"score__{name}": score for name, score in oof.items()},
        index=frame.index[train],
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
        oof_scores=oof_scores,
        oof_qini=oof_qini,
        calibration_check=calibration_bins(
            calibrated, treatment[test], outcome[test], oracle=oracle
        ),
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
