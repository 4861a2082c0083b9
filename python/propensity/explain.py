"""Compile a fitted scikit-learn classifier into DuckDB SQL giving per-feature score contributions.

For every row the SQL returns, per feature, the feature's contribution to the model's score in
log-odds units, such that ``bias + sum(contributions) == decision_function`` (up to floating-point
rounding). dbt can then rank each customer's top reasons in the warehouse; no Python runs at
scoring time.

Supported models (what ``propensity.train`` produces):

* ``[SimpleImputer] -> [StandardScaler] -> LogisticRegression`` (a Pipeline or the bare
  estimator): ``contribution_j = coef_j * (coalesce(x_j, median_j) - mean_j) / scale_j``; the
  bias is the intercept.
* ``HistGradientBoostingClassifier`` (binary, numeric splits only): Saabas path attribution.
  Every internal node gets the count-weighted mean of its children's values (bottom-up from the
  leaves); a row's contribution for feature ``f`` is the sum, over the splits on ``f`` along its
  root-to-leaf path, of ``value(child) - value(parent)``. The bias is the baseline prediction
  plus every tree's root value. The sum telescopes to the leaf values, so it is exact whenever
  the SQL sends a row to the same leaf as sklearn.
* Regressors with a log link, as ``propensity.regression`` fits them: ``PoissonRegressor``
  behind the same preprocessing, and ``HistGradientBoostingRegressor`` (e.g.
  ``loss="poisson"``). The contributions are then in units of the log of the predicted amount
  (what both are additive in): ``bias + sum(contributions) == log(prediction)``. A
  contribution of 0.7 multiplies the amount by exp(0.7), about 2.
* ``CalibratedClassifierCV`` with a single calibrated classifier (``ensemble=False``) around one
  of the above: the underlying fitted estimator is explained. The calibrator maps that
  estimator's decision function through an increasing function (isotonic, Platt sigmoid with a
  negative slope, or temperature scaling), so it changes neither the ranking nor which features
  push a score up; the contributions stay in the estimator's log-odds units and sum to its
  decision function, not to the calibrated probability's logit.

Input semantics, mirroring ``propensity.train.feature_matrix`` (which hands sklearn a float32
matrix, cast to float64 inside sklearn):

* SQL NULL and NaN both mean "missing";
* every feature is rounded once to float32 (``CAST(x AS FLOAT)``, then held as DOUBLE, exactly
  like numpy's float32 -> float64 upcast); values too large for float32 become +/-Infinity as in
  numpy (DuckDB would raise on such a cast, so they are handled before it);
* tree splits compare that DOUBLE with the DOUBLE threshold sklearn stores: ``x <= threshold``
  goes left, missing follows ``missing_go_to_left`` -- the exact comparison sklearn's predictor
  makes, so a value lying on or near a threshold takes sklearn's branch;
* the linear model is evaluated in DOUBLE. sklearn itself, fed float32, keeps float32 through
  the scaler and the dot product (``coef_`` is float32 too), so its ``decision_function`` on a
  float32 matrix differs from the exact value by ~1e-7 relative; on the same matrix cast to
  float64 it agrees with the SQL to ~1e-15.

SQL shape (``CompiledExplainer.select_sql``)::

    select <passthrough...>, <contribution expression> as "contribution__<feature>", ...
    from (select *, <leaf id of tree t> as "__px_leaf_t", ...          -- trees only
          from (select *, <float32-rounded feature> as "__px_in_j", ...
                from <relation>) as "__px_q1") as "__px_q2"

Trees read ``"__px_in_<j>_lo"``/``"__px_in_<j>_hi"`` instead: the float32-rounded feature with
NULL replaced by -Infinity (missing goes left) or NaN (missing goes right; NaN sorts above every
value in DuckDB), so every comparison is total. A tree's leaf id (1, 2, ... in pre-order) is a
flat ``CASE WHEN`` decision list that nests only into the smaller child at each split. A
tree-model contribution is a balanced sum, over the trees whose paths split on the feature, of
``(ARRAY[<contribution of leaf 1>, ...])[leaf id]``: one array lookup per tree and feature
where a ``CASE`` over the leaves would test them in turn (4x faster on 450k rows x 150 trees).
Features the model never uses get a literal 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression, PoissonRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from propensity.onnx_sql import double_literal, quote_identifier

__all__ = [
    "CONTRIBUTION_PREFIX",
    "CompiledExplainer",
    "UnsupportedModelError",
    "compile_explainer",
    "contribution_column",
]

CONTRIBUTION_PREFIX = "contribution__"
_RESERVED_PREFIX = "__px_"
# numpy rounds a double to float32 +/-inf from here on (halfway between FLT_MAX and 2**128, a
# tie that rounds to even, i.e. up); DuckDB's CAST raises instead, so these are mapped first.
_FLOAT32_OVERFLOW = 3.4028235677973366e38
_ZERO = "0.0e0"


class UnsupportedModelError(ValueError):
    """Raised when the model (or one of its parts) cannot be compiled to contribution SQL."""


def contribution_column(feature: str) -> str:
    """The output column name holding ``feature``'s contribution."""
    return f"{CONTRIBUTION_PREFIX}{feature}"


@dataclass(frozen=True)
class CompiledExplainer:
    """Per-feature log-odds contributions of a fitted classifier, as DuckDB SQL."""

    feature_columns: tuple[str, ...]
    bias: float
    model_family: str
    # Successive layers of (alias, expression) columns added with ``select *, ...``.
    _layers: tuple[tuple[tuple[str, str], ...], ...]
    # One expression per feature, over the relation's and the last layer's columns.
    _contributions: tuple[str, ...]

    @property
    def contribution_columns(self) -> tuple[str, ...]:
        """The contribution output column names, in feature order."""
        return tuple(contribution_column(f) for f in self.feature_columns)

    def select_sql(self, relation: str, passthrough: Sequence[str]) -> str:
        """``select <passthrough...>, <contribution__feature...> from <relation>`` as SQL."""
        if not isinstance(relation, str) or not relation.strip():
            raise ValueError("relation must be a table/view name or a parenthesised subquery")
        if isinstance(passthrough, str):
            raise TypeError("passthrough must be a sequence of column names, not a str")
        names = [*passthrough, *self.contribution_columns]
        seen: set[str] = set()
        for name in names:
            quote_identifier(name)
            key = name.lower()
            if key in seen:
                raise ValueError(f"duplicate output column name: {name!r}")
            if key.startswith(_RESERVED_PREFIX):
                raise ValueError(f"column names starting with {_RESERVED_PREFIX!r} are reserved")
            seen.add(key)
        sql = relation.strip()
        for depth, layer in enumerate(self._layers, start=1):
            columns = ",\n  ".join(f"{expr} as {alias}" for alias, expr in layer)
            alias = quote_identifier(f"{_RESERVED_PREFIX}q{depth}")
            sql = f"(select *,\n  {columns}\nfrom {sql}) as {alias}"
        outputs = [quote_identifier(p) for p in passthrough]
        outputs += [
            f"{expr} as {quote_identifier(name)}"
            for name, expr in zip(self.contribution_columns, self._contributions, strict=True)
        ]
        return "select\n  " + ",\n  ".join(outputs) + f"\nfrom {sql}"


def compile_explainer(model: BaseEstimator, feature_columns: Sequence[str]) -> CompiledExplainer:
    """Compile a fitted (optionally calibrated) LR or HistGB pipeline, or a Poisson GLM or
    HistGB regressor pipeline, to contribution SQL."""
    if isinstance(feature_columns, str):
        raise TypeError("feature_columns must be a sequence of column names, not a str")
    columns = tuple(feature_columns)
    if not columns:
        raise ValueError("feature_columns is empty")
    seen: set[str] = set()
    for c in columns:
        quote_identifier(c)
        if c.lower() in seen:
            raise ValueError(f"duplicate feature column: {c!r}")
        if c.lower().startswith(_RESERVED_PREFIX):
            raise ValueError(f"column names starting with {_RESERVED_PREFIX!r} are reserved: {c!r}")
        seen.add(c.lower())

    estimator = _uncalibrated(model)
    names_in = getattr(estimator, "feature_names_in_", None)
    if names_in is not None and tuple(str(n) for n in names_in) != columns:
        raise ValueError(
            f"the model was fitted on columns {list(names_in)}, not {list(columns)} (in order)"
        )
    steps = _steps(estimator)
    final = steps[-1]
    check_is_fitted(final)
    n_in = getattr(steps[0], "n_features_in_", None)
    if n_in is not None and n_in != len(columns):
        raise ValueError(f"the model expects {n_in} features; got {len(columns)} feature columns")
    is_regressor = isinstance(final, PoissonRegressor | HistGradientBoostingRegressor)
    if not is_regressor and len(getattr(final, "classes_", ())) != 2:
        raise UnsupportedModelError(f"{type(final).__name__} is not a binary classifier")
    if isinstance(final, LogisticRegression | PoissonRegressor):
        return _compile_linear(steps, columns)
    if isinstance(final, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        if len(steps) > 1:
            raise UnsupportedModelError(
                f"preprocessing before {type(final).__name__} is not supported: "
                + ", ".join(type(s).__name__ for s in steps[:-1])
            )
        return _compile_hist_gradient_boosting(final, columns)
    raise UnsupportedModelError(f"cannot explain a {type(final).__name__}")


# --------------------------------------------------------------------------------------------
# Model unwrapping
# --------------------------------------------------------------------------------------------


def _uncalibrated(model: BaseEstimator) -> BaseEstimator:
    """The estimator whose decision function a calibrated classifier maps to probabilities."""
    if isinstance(model, FrozenEstimator):
        return _uncalibrated(model.estimator)
    if not isinstance(model, CalibratedClassifierCV):
        return model
    check_is_fitted(model)
    calibrated = model.calibrated_classifiers_
    if len(calibrated) != 1:
        raise UnsupportedModelError(
            f"CalibratedClassifierCV holds {len(calibrated)} calibrated classifiers whose "
            "probabilities are averaged; only a single one (ensemble=False) can be explained"
        )
    for calibrator in calibrated[0].calibrators:
        # Isotonic calibration is fitted increasing and temperature scaling multiplies by a
        # positive beta_; Platt scaling is expit(-(a * f + b)), increasing only when a < 0.
        if isinstance(calibrator, IsotonicRegression):
            increasing = bool(getattr(calibrator, "increasing_", True))
        else:
            increasing = float(getattr(calibrator, "a_", -1.0)) < 0.0
        if not increasing:
            raise UnsupportedModelError(
                f"the {type(calibrator).__name__} calibrator is not increasing in the model's "
                "decision function, so contributions would point the wrong way"
            )
    estimator = calibrated[0].estimator
    return _uncalibrated(estimator)


def _steps(model: BaseEstimator) -> list[BaseEstimator]:
    """The pipeline's estimators (skipping passthrough steps), or just the model."""
    if not isinstance(model, Pipeline):
        return [model]
    steps = [s for _, s in model.steps if s is not None and not isinstance(s, str)]
    if not steps:
        raise UnsupportedModelError("the pipeline has no estimator")
    return steps


# --------------------------------------------------------------------------------------------
# SQL helpers
# --------------------------------------------------------------------------------------------


def _float32_input(column: str) -> str:
    """The column as sklearn sees it: NULL if missing, else float32-rounded, held as DOUBLE."""
    v = f"CAST({quote_identifier(column)} AS DOUBLE)"
    return (
        f"CASE WHEN isnan({v}) THEN NULL"
        f" WHEN {v} >= {double_literal(_FLOAT32_OVERFLOW)} THEN CAST('Infinity' AS DOUBLE)"
        f" WHEN {v} <= {double_literal(-_FLOAT32_OVERFLOW)} THEN CAST('-Infinity' AS DOUBLE)"
        f" ELSE CAST(CAST({v} AS FLOAT) AS DOUBLE) END"
    )


def _sum(terms: Sequence[str]) -> str:
    """A balanced sum (keeps the expression depth logarithmic in the number of terms)."""
    if not terms:
        return _ZERO
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    return f"({_sum(terms[:half])} + {_sum(terms[half:])})"


def _input_layer(columns: tuple[str, ...], used: Sequence[int]) -> tuple[tuple[str, str], ...]:
    return tuple((_input_alias(j), _float32_input(columns[j])) for j in used)


def _input_alias(j: int) -> str:
    return quote_identifier(f"{_RESERVED_PREFIX}in_{j}")


# --------------------------------------------------------------------------------------------
# Logistic regression
# --------------------------------------------------------------------------------------------


def _compile_linear(steps: list[BaseEstimator], columns: tuple[str, ...]) -> CompiledExplainer:
    model = steps[-1]
    n = len(columns)
    fill: np.ndarray | None = None
    mean = np.zeros(n)
    scale = np.ones(n)
    preprocessing = steps[:-1]
    kinds = [type(s) for s in preprocessing]
    if kinds not in ([], [SimpleImputer], [StandardScaler], [SimpleImputer, StandardScaler]):
        raise UnsupportedModelError(
            f"only [SimpleImputer] -> [StandardScaler] may precede {type(model).__name__}; got "
            + ", ".join(k.__name__ for k in kinds)
        )
    for step in preprocessing:
        check_is_fitted(step)
        if isinstance(step, SimpleImputer):
            missing = step.missing_values
            if not (isinstance(missing, float) and math.isnan(missing)) or step.add_indicator:
                raise UnsupportedModelError(
                    "SimpleImputer must impute NaN (missing_values=np.nan) without add_indicator"
                )
            fill = np.asarray(step.statistics_, dtype=np.float64)
            if fill.shape != (n,) or np.isnan(fill).any():
                raise UnsupportedModelError(
                    "SimpleImputer dropped an all-missing feature (no statistic to impute)"
                )
        elif isinstance(step, StandardScaler):
            if step.with_mean:
                mean = np.asarray(step.mean_, dtype=np.float64)
            if step.with_std:
                scale = np.asarray(step.scale_, dtype=np.float64)
    coef = np.asarray(model.coef_, dtype=np.float64)
    if coef.ndim == 1:  # a regressor's coefficients
        coef = coef.reshape(1, -1)
    if coef.shape != (1, n):
        raise UnsupportedModelError(f"{type(model).__name__} coef_ has shape {coef.shape}")
    used = [j for j in range(n) if coef[0, j] != 0.0]
    contributions: list[str] = []
    for j in range(n):
        if coef[0, j] == 0.0:
            contributions.append(_ZERO)
            continue
        x = _input_alias(j)
        if fill is not None:
            x = f"coalesce({x}, {double_literal(fill[j])})"
        if mean[j] != 0.0:
            x = f"({x} - {double_literal(mean[j])})"
        if scale[j] != 1.0:
            x = f"({x} / {double_literal(scale[j])})"
        contributions.append(f"({double_literal(coef[0, j])} * {x})")
    intercept = float(np.ravel(model.intercept_)[0]) if model.fit_intercept else 0.0
    return CompiledExplainer(
        feature_columns=columns,
        bias=intercept,
        model_family=(
            "poisson_regression" if isinstance(model, PoissonRegressor) else "logistic_regression"
        ),
        _layers=(_input_layer(columns, used),) if used else (),
        _contributions=tuple(contributions),
    )


# --------------------------------------------------------------------------------------------
# Histogram gradient boosting
# --------------------------------------------------------------------------------------------

# A tree input with NULL replaced by a value that every comparison sends the way sklearn sends a
# missing value: -Infinity is below every threshold (left); NaN is above every value in DuckDB's
# ordering, +Infinity included (right).
_MISSING_LEFT_SENTINEL = "CAST('-Infinity' AS DOUBLE)"
_MISSING_RIGHT_SENTINEL = "CAST('NaN' AS DOUBLE)"


@dataclass(frozen=True)
class _TreeAttribution:
    """One tree: its leaf-id SQL, root value, and per-feature contributions of each leaf."""

    leaf_sql: str
    root_value: float
    # feature index -> contribution of leaf 1, 2, ... (only features with a nonzero one)
    contributions: dict[int, list[float]]
    # the (feature index, missing goes left) tree inputs the leaf SQL reads
    inputs: frozenset[tuple[int, bool]]


def _tree_input_alias(j: int, missing_go_to_left: bool) -> str:
    side = "lo" if missing_go_to_left else "hi"
    return quote_identifier(f"{_RESERVED_PREFIX}in_{j}_{side}")


def _compile_hist_gradient_boosting(
    model: HistGradientBoostingClassifier | HistGradientBoostingRegressor, columns: tuple[str, ...]
) -> CompiledExplainer:
    if model.n_trees_per_iteration_ != 1:
        raise UnsupportedModelError(
            "HistGradientBoostingClassifier with more than one tree per iteration (multiclass)"
        )
    is_categorical = getattr(model, "is_categorical_", None)
    if is_categorical is not None and np.any(is_categorical):
        raise UnsupportedModelError(
            "HistGradientBoostingClassifier with categorical features is not supported"
        )
    baseline = float(np.ravel(model._baseline_prediction)[0])
    trees = [_attribute_tree(predictors[0].nodes) for predictors in model._predictors]
    bias = baseline + math.fsum(t.root_value for t in trees)

    leaf_layer: list[tuple[str, str]] = []
    inputs: set[tuple[int, bool]] = set()
    terms: list[list[str]] = [[] for _ in columns]
    for t, tree in enumerate(trees):
        if not tree.contributions:  # a single leaf, or leaves of equal value: all of it is bias
            continue
        alias = quote_identifier(f"{_RESERVED_PREFIX}leaf_{t}")
        leaf_layer.append((alias, tree.leaf_sql))
        inputs |= tree.inputs
        for j, values in sorted(tree.contributions.items()):
            # A constant array indexed by the leaf id: one lookup, where a CASE over the leaves
            # would test them one after the other.
            terms[j].append(f"(ARRAY[{', '.join(double_literal(c) for c in values)}])[{alias}]")
    input_layer = tuple(
        (
            _tree_input_alias(j, left),
            f"coalesce({_float32_input(columns[j])}, "
            f"{_MISSING_LEFT_SENTINEL if left else _MISSING_RIGHT_SENTINEL})",
        )
        for j, left in sorted(inputs)
    )
    return CompiledExplainer(
        feature_columns=columns,
        bias=bias,
        model_family=(
            "poisson_gradient_boosting"
            if isinstance(model, HistGradientBoostingRegressor)
            else "hist_gradient_boosting"
        ),
        _layers=(input_layer, tuple(leaf_layer)) if leaf_layer else (),
        _contributions=tuple(_sum(t) for t in terms),
    )


def _attribute_tree(nodes: np.ndarray) -> _TreeAttribution:
    """Saabas attribution of one sklearn TreePredictor node array."""
    if np.any(nodes["is_categorical"] & ~nodes["is_leaf"].astype(bool)):
        raise UnsupportedModelError(
            "HistGradientBoostingClassifier tree has a categorical split; not supported"
        )
    n = len(nodes)
    is_leaf = nodes["is_leaf"].astype(bool)
    left = nodes["left"].astype(np.int64)
    right = nodes["right"].astype(np.int64)
    feature = nodes["feature_idx"].astype(np.int64)
    count = nodes["count"].astype(np.float64)
    # Recompute internal node values; do not use nodes["value"] for them. In sklearn 1.9.1
    # (grower._fill_predictor_arrays) an internal node stores the grower's Newton step
    # -G / (H + l2) *before* shrinkage (TreeGrower._apply_shrinkage multiplies only the final
    # leaves by learning_rate), and the root stores 0.0, so they are neither on the leaves' scale
    # nor averages of them. Nodes are stored in pre-order (children after their parent), so one
    # reverse pass sees both children before the parent.
    value = np.where(is_leaf, nodes["value"].astype(np.float64), np.nan)
    size = np.ones(n, dtype=np.int64)
    for i in range(n - 1, -1, -1):
        if is_leaf[i]:
            continue
        lo, hi = left[i], right[i]
        size[i] = 1 + size[lo] + size[hi]
        weight = count[lo] + count[hi]
        if weight > 0:
            value[i] = (count[lo] * value[lo] + count[hi] * value[hi]) / weight
        else:
            value[i] = 0.5 * (value[lo] + value[hi])

    leaf_id = np.cumsum(is_leaf)  # leaves numbered 1, 2, ... in pre-order (SQL arrays are 1-based)
    n_leaves = int(leaf_id[-1])
    contributions: dict[int, list[float]] = {}
    # Depth-first walk (explicit stack: trees can be deep) carrying each feature's running sum
    # of value(child) - value(parent) over the splits on it along the path.
    stack: list[tuple[int, dict[int, float]]] = [(0, {})]
    while stack:
        i, path = stack.pop()
        if is_leaf[i]:
            for j, c in path.items():
                if c != 0.0:
                    contributions.setdefault(j, [0.0] * n_leaves)[leaf_id[i] - 1] = c
            continue
        j = int(feature[i])
        for child in (right[i], left[i]):
            stack.append((int(child), {**path, j: path.get(j, 0.0) + (value[child] - value[i])}))

    inputs: set[tuple[int, bool]] = set()

    def decision_list(i: int) -> str:
        """The leaf id reached from node i, as a flat CASE WHEN list.

        At every split the smaller child becomes the THEN of a WHEN and the list goes on into
        the larger one, so CASEs nest at most log2(nodes) deep. The inputs carry the missing-value
        sentinel of the split's side, so every comparison is total and either child may be THEN;
        x <= threshold goes left, the comparison sklearn's predictor makes.
        """
        whens = []
        while not is_leaf[i]:
            j, lo, hi = int(feature[i]), int(left[i]), int(right[i])
            missing_left = bool(nodes["missing_go_to_left"][i])
            inputs.add((j, missing_left))
            x = _tree_input_alias(j, missing_left)
            threshold = double_literal(float(nodes["num_threshold"][i]))
            if size[lo] <= size[hi]:
                whens.append(f"WHEN {x} <= {threshold} THEN {decision_list(lo)}")
                i = hi
            else:
                whens.append(f"WHEN {x} > {threshold} THEN {decision_list(hi)}")
                i = lo
        if not whens:
            return str(int(leaf_id[i]))
        return f"CASE {' '.join(whens)} ELSE {int(leaf_id[i])} END"

    leaf_sql = decision_list(0)
    return _TreeAttribution(
        leaf_sql=leaf_sql,
        root_value=float(value[0]),
        contributions=contributions,
        inputs=frozenset(inputs),
    )
