"""Per-feature contributions compiled to SQL (propensity.explain), checked against scikit-learn.

Every check runs the compiled SQL in DuckDB on a small table and compares, row by row, the
explanation bias plus the contributions with the fitted model's decision_function.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from propensity.explain import (
    CompiledExplainer,
    UnsupportedModelError,
    compile_explainer,
    contribution_column,
)

COLUMNS = ("tenure_days", "orders_count_30d", "email_click_rate_30d", "has_escalation_90d")
TOLERANCE = 1e-6


def training_data(seed: int = 3, rows: int = 3000) -> tuple[pd.DataFrame, np.ndarray]:
    """Four features (integer-valued, float, a flag), about 15% missing, and a noisy label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure_days": rng.integers(0, 1500, rows).astype(float),
            "orders_count_30d": rng.poisson(1.5, rows).astype(float),
            "email_click_rate_30d": rng.beta(1, 6, rows),
            "has_escalation_90d": (rng.random(rows) < 0.2).astype(float),
        }
    )
    signal = (
        0.002 * frame["tenure_days"].to_numpy()
        + 0.8 * frame["orders_count_30d"].to_numpy()
        + 3.0 * frame["email_click_rate_30d"].to_numpy()
        - 1.0 * frame["has_escalation_90d"].to_numpy()
    )
    label = (signal + rng.normal(0, 1, rows) > 3.0).astype(int)
    for column in ("tenure_days", "orders_count_30d", "email_click_rate_30d"):
        frame.loc[rng.random(rows) < 0.15, column] = np.nan
    return frame, label


def as_model_input(frame: pd.DataFrame) -> np.ndarray:
    """What training hands sklearn: the features as float32 (NaN for missing)."""
    return frame[list(COLUMNS)].astype("float64").to_numpy(dtype=np.float32)


def sql_contributions(
    explainer: CompiledExplainer,
    frame: pd.DataFrame,
    *,
    nan_rows: Sequence[int] = (),
    flag_as_boolean: bool = False,
) -> np.ndarray:
    """The contributions the SQL computes for every row of frame (in row order).

    Missing values reach DuckDB as NULL; the rows in nan_rows get NaN instead of NULL in every
    feature that is missing there. With flag_as_boolean the flag column is a BOOLEAN.
    """
    table = frame.reset_index(drop=True).copy()
    table.insert(0, "row_id", np.arange(len(table)))
    with duckdb.connect() as connection:
        connection.register("frame_view", table)
        connection.execute("create table features as select * from frame_view")
        for row in nan_rows:
            for column in COLUMNS:
                connection.execute(
                    f"update features set {column} = 'NaN'::double "
                    f"where row_id = {row} and {column} is null"
                )
        if flag_as_boolean:
            connection.execute(
                "alter table features alter has_escalation_90d "
                "set data type boolean using has_escalation_90d = 1"
            )
        result = connection.execute(
            f"select * from ({explainer.select_sql('features', ('row_id',))}) order by row_id"
        ).df()
    assert result["row_id"].tolist() == list(range(len(table)))
    return result[list(explainer.contribution_columns)].to_numpy(dtype=np.float64)


def decision_function(model: object, frame: pd.DataFrame) -> np.ndarray:
    """sklearn's log-odds on the float32-rounded input (held as float64, as the SQL holds it)."""
    return model.decision_function(as_model_input(frame).astype(np.float64))


def linear_pipeline() -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=1.0, max_iter=2000)),
        ]
    )


def boosted_trees(seed: int = 0) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=40, max_leaf_nodes=15, min_samples_leaf=20, learning_rate=0.1, random_state=seed
    )


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return training_data()


@pytest.fixture(scope="module")
def fitted_linear(data: tuple[pd.DataFrame, np.ndarray]) -> Pipeline:
    frame, label = data
    return linear_pipeline().fit(as_model_input(frame), label)


@pytest.fixture(scope="module")
def fitted_trees(data: tuple[pd.DataFrame, np.ndarray]) -> HistGradientBoostingClassifier:
    frame, label = data
    return boosted_trees().fit(as_model_input(frame), label)


# ------------------------------------------------------------------------------------------
# Contributions add up to the model's log-odds
# ------------------------------------------------------------------------------------------


def test_linear_pipeline_contributions_sum_to_decision_function(
    data: tuple[pd.DataFrame, np.ndarray], fitted_linear: Pipeline
) -> None:
    frame, _ = data
    explainer = compile_explainer(fitted_linear, COLUMNS)
    contributions = sql_contributions(explainer, frame)
    assert explainer.model_family == "logistic_regression"
    assert explainer.bias == pytest.approx(float(fitted_linear[-1].intercept_[0]), abs=0)
    np.testing.assert_allclose(
        explainer.bias + contributions.sum(axis=1),
        decision_function(fitted_linear, frame),
        rtol=0,
        atol=TOLERANCE,
    )
    # Per feature: coefficient x standardised (imputed) value, as the pipeline computes it.
    standardised = fitted_linear[:-1].transform(as_model_input(frame).astype(np.float64))
    np.testing.assert_allclose(
        contributions, standardised * fitted_linear[-1].coef_[0], rtol=0, atol=TOLERANCE
    )


def test_boosted_tree_contributions_sum_to_decision_function(
    data: tuple[pd.DataFrame, np.ndarray], fitted_trees: HistGradientBoostingClassifier
) -> None:
    frame, _ = data
    explainer = compile_explainer(fitted_trees, COLUMNS)
    contributions = sql_contributions(explainer, frame)
    assert explainer.model_family == "hist_gradient_boosting"
    np.testing.assert_allclose(
        explainer.bias + contributions.sum(axis=1),
        decision_function(fitted_trees, frame),
        rtol=0,
        atol=TOLERANCE,
    )
    # Every feature takes part, and missing values went both ways at some split.
    assert (np.abs(contributions) > 0).any(axis=0).all()
    missing_left = {
        bool(node["missing_go_to_left"])
        for predictors in fitted_trees._predictors
        for node in predictors[0].nodes
        if not node["is_leaf"]
    }
    assert missing_left == {True, False}


def test_boosted_tree_contributions_are_saabas_path_attributions() -> None:
    """One stump on one feature: its contribution is the child's value minus the root's,
    the root value being the count-weighted mean of the leaves."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 10, 400).astype(float)
    label = (x >= 5).astype(int) ^ (rng.random(400) < 0.1)
    frame = pd.DataFrame({column: 0.0 for column in COLUMNS}, index=range(400))
    frame["orders_count_30d"] = x
    model = HistGradientBoostingClassifier(max_iter=1, max_depth=1, learning_rate=1.0)
    model.fit(as_model_input(frame), label)
    nodes = model._predictors[0][0].nodes
    left, right = nodes[nodes["is_leaf"].astype(bool)]
    root = (left["count"] * left["value"] + right["count"] * right["value"]) / (
        left["count"] + right["count"]
    )
    explainer = compile_explainer(model, COLUMNS)
    probe = frame.iloc[:2].copy()
    probe["orders_count_30d"] = [0.0, 9.0]
    contributions = sql_contributions(explainer, probe)
    j = COLUMNS.index("orders_count_30d")
    assert contributions[:, j] == pytest.approx([left["value"] - root, right["value"] - root])
    assert np.delete(contributions, j, axis=1).tolist() == [[0.0] * 3, [0.0] * 3]
    baseline = float(np.ravel(model._baseline_prediction)[0])
    assert explainer.bias == pytest.approx(baseline + root)


def test_null_and_nan_are_both_missing(
    data: tuple[pd.DataFrame, np.ndarray],
    fitted_linear: Pipeline,
    fitted_trees: HistGradientBoostingClassifier,
) -> None:
    frame, _ = data
    missing_rows = np.flatnonzero(frame[list(COLUMNS)].isna().any(axis=1).to_numpy())[:200]
    assert len(missing_rows) == 200
    for model in (fitted_linear, fitted_trees):
        explainer = compile_explainer(model, COLUMNS)
        as_null = sql_contributions(explainer, frame)
        as_nan = sql_contributions(explainer, frame, nan_rows=missing_rows.tolist())
        assert not np.isnan(as_null).any()
        np.testing.assert_array_equal(as_nan, as_null)


def test_boolean_flag_column_reads_as_one_and_zero(
    data: tuple[pd.DataFrame, np.ndarray],
    fitted_linear: Pipeline,
    fitted_trees: HistGradientBoostingClassifier,
) -> None:
    frame, _ = data
    for model in (fitted_linear, fitted_trees):
        explainer = compile_explainer(model, COLUMNS)
        np.testing.assert_array_equal(
            sql_contributions(explainer, frame, flag_as_boolean=True),
            sql_contributions(explainer, frame),
        )


def test_values_on_a_tree_threshold_take_sklearn_branch(
    fitted_trees: HistGradientBoostingClassifier,
) -> None:
    """Rows sitting exactly on every split threshold (and on the float32 values next to it):
    the SQL sends them where sklearn does, x <= threshold going left."""
    thresholds: dict[int, set[float]] = {}
    for predictors in fitted_trees._predictors:
        for node in predictors[0].nodes:
            if not node["is_leaf"]:
                thresholds.setdefault(int(node["feature_idx"]), set()).add(
                    float(node["num_threshold"])
                )
    rows = []
    exact = 0
    for j, values in sorted(thresholds.items()):
        for threshold in sorted(values):
            at = np.float32(threshold)
            exact += float(at) == threshold
            for value in (np.nextafter(at, np.float32(-np.inf)), at, np.nextafter(at, np.inf)):
                row = [np.nan] * len(COLUMNS)
                row[j] = float(value)
                rows.append(row)
    # Counts split at x.5 (a midpoint of integer bins), which float32 holds exactly.
    assert exact > 10
    probe = pd.DataFrame(rows, columns=list(COLUMNS))
    explainer = compile_explainer(fitted_trees, COLUMNS)
    np.testing.assert_allclose(
        explainer.bias + sql_contributions(explainer, probe).sum(axis=1),
        decision_function(fitted_trees, probe),
        rtol=0,
        atol=TOLERANCE,
    )


def test_values_beyond_float32_range_become_infinite() -> None:
    """Like numpy's float32 cast: a value too large for float32 is +/-inf, not an error."""
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 500)
    frame = pd.DataFrame({column: x for column in COLUMNS})
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0)
    model.fit(as_model_input(frame), (x > 0).astype(int))
    explainer = compile_explainer(model, COLUMNS)
    probe = pd.DataFrame({column: [1e39, -1e39, 3e38, -3e38] for column in COLUMNS})
    contributions = sql_contributions(explainer, probe)
    # +1e39 goes where the largest float32 goes, -1e39 where the smallest does.
    np.testing.assert_array_equal(contributions[0], contributions[2])
    np.testing.assert_array_equal(contributions[1], contributions[3])
    assert not np.array_equal(contributions[0], contributions[1])


# ------------------------------------------------------------------------------------------
# A hand-checked linear model
# ------------------------------------------------------------------------------------------


def test_two_feature_linear_model_by_hand() -> None:
    """Imputer medians (2, 10), scaler means (2, 10) and scales (1, 10), coefficients (2, -1),
    intercept 0.5: contribution_j = coef_j * (value_j - mean_j) / scale_j."""
    columns = ("orders_count_30d", "days_since_last_order")
    train = np.array([[1.0, 0.0], [3.0, 20.0]], dtype=np.float32)
    model = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("model", LogisticRegression()),
        ]
    ).fit(train, [0, 1])
    model[-1].coef_ = np.array([[2.0, -1.0]])
    model[-1].intercept_ = np.array([0.5])
    explainer = compile_explainer(model, columns)
    assert explainer.bias == 0.5
    probe = pd.DataFrame(
        {"orders_count_30d": [3.0, np.nan, 0.5], "days_since_last_order": [10.0, 30.0, np.nan]}
    )
    with duckdb.connect() as connection:
        connection.register("probe", probe)
        result = connection.execute(explainer.select_sql("probe", ())).fetchall()
    assert result == [(2.0, 0.0), (0.0, -2.0), (-3.0, 0.0)]
    assert [0.5 + sum(row) for row in result] == pytest.approx(
        model.decision_function(probe.to_numpy())
    )


def test_select_sql_names_and_passthrough(fitted_linear: Pipeline) -> None:
    explainer = compile_explainer(fitted_linear, COLUMNS)
    assert explainer.contribution_columns == tuple(f"contribution__{c}" for c in COLUMNS)
    assert contribution_column("x") == "contribution__x"
    frame = pd.DataFrame({c: [1.0] for c in COLUMNS}).assign(
        customer_id=7, snapshot_date="2026-11-01"
    )
    with duckdb.connect() as connection:
        connection.register("frame", frame)
        relation = connection.execute(
            explainer.select_sql("frame", ("customer_id", "snapshot_date"))
        )
        names = [d[0] for d in relation.description]
        relation.fetchall()
    assert names == ["customer_id", "snapshot_date", *explainer.contribution_columns]
    with pytest.raises(TypeError):
        explainer.select_sql("frame", "customer_id")
    with pytest.raises(ValueError, match="duplicate"):
        explainer.select_sql("frame", ("customer_id", "customer_id"))
    with pytest.raises(ValueError, match="reserved"):
        explainer.select_sql("frame", ("__px_leaf_0",))


# ------------------------------------------------------------------------------------------
# Calibrated wrappers
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrated_wrapper_explains_the_underlying_model(
    data: tuple[pd.DataFrame, np.ndarray], fitted_trees: HistGradientBoostingClassifier, method: str
) -> None:
    frame, label = data
    calibrated = CalibratedClassifierCV(FrozenEstimator(fitted_trees), method=method)
    calibrated.fit(as_model_input(frame), label)
    explainer = compile_explainer(calibrated, COLUMNS)
    log_odds = explainer.bias + sql_contributions(explainer, frame).sum(axis=1)
    np.testing.assert_allclose(
        log_odds, decision_function(fitted_trees, frame), rtol=0, atol=TOLERANCE
    )
    # The calibrated probability never falls as the explained log-odds rise.
    probability = calibrated.predict_proba(as_model_input(frame).astype(np.float64))[:, 1]
    order = np.argsort(log_odds, kind="stable")
    assert (np.diff(probability[order]) >= -1e-12).all()


def test_calibrated_ensemble_is_refused(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, label = data
    calibrated = CalibratedClassifierCV(linear_pipeline(), cv=3, ensemble=True)
    calibrated.fit(as_model_input(frame), label)
    with pytest.raises(UnsupportedModelError, match="3 calibrated classifiers"):
        compile_explainer(calibrated, COLUMNS)


def test_decreasing_calibration_is_refused(
    data: tuple[pd.DataFrame, np.ndarray], fitted_linear: Pipeline
) -> None:
    frame, label = data
    calibrated = CalibratedClassifierCV(FrozenEstimator(fitted_linear), method="sigmoid")
    calibrated.fit(as_model_input(frame), label)
    calibrated.calibrated_classifiers_[0].calibrators[0].a_ *= -1
    with pytest.raises(UnsupportedModelError, match="not increasing"):
        compile_explainer(calibrated, COLUMNS)


# ------------------------------------------------------------------------------------------
# Refusals
# ------------------------------------------------------------------------------------------


def test_unsupported_models_are_refused(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, label = data[0].iloc[:300], data[1][:300]
    x = np.nan_to_num(as_model_input(frame))
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, label)
    with pytest.raises(UnsupportedModelError, match="cannot explain a RandomForestClassifier"):
        compile_explainer(forest, COLUMNS)
    multiclass = LogisticRegression(max_iter=500).fit(x, label + (x[:, 1] > 2))
    with pytest.raises(UnsupportedModelError, match="not a binary classifier"):
        compile_explainer(multiclass, COLUMNS)
    min_max = Pipeline([("scale", MinMaxScaler()), ("model", LogisticRegression())]).fit(x, label)
    with pytest.raises(UnsupportedModelError, match="MinMaxScaler"):
        compile_explainer(min_max, COLUMNS)
    scaled_trees = Pipeline(
        [("scale", StandardScaler()), ("model", HistGradientBoostingClassifier(max_iter=2))]
    ).fit(x, label)
    with pytest.raises(UnsupportedModelError, match="preprocessing before"):
        compile_explainer(scaled_trees, COLUMNS)
    categorical = HistGradientBoostingClassifier(max_iter=3, categorical_features=[1])
    categorical.fit(np.round(x), label)
    with pytest.raises(UnsupportedModelError, match="categorical"):
        compile_explainer(categorical, COLUMNS)
    indicator = Pipeline(
        [("impute", SimpleImputer(add_indicator=True)), ("model", LogisticRegression())]
    ).fit(as_model_input(frame), label)
    with pytest.raises(UnsupportedModelError, match="add_indicator"):
        compile_explainer(indicator, COLUMNS)


def test_bad_inputs_are_refused(fitted_linear: Pipeline) -> None:
    with pytest.raises(NotFittedError):
        compile_explainer(linear_pipeline(), COLUMNS)
    with pytest.raises(TypeError, match="not a str"):
        compile_explainer(fitted_linear, "tenure_days")
    with pytest.raises(ValueError, match="expects 4 features"):
        compile_explainer(fitted_linear, COLUMNS[:3])
    with pytest.raises(ValueError, match="duplicate"):
        compile_explainer(fitted_linear, (*COLUMNS[:3], COLUMNS[0]))
    with pytest.raises(ValueError, match="empty"):
        compile_explainer(fitted_linear, ())
    named = linear_pipeline().fit(training_data()[0].fillna(0), training_data()[1])
    with pytest.raises(ValueError, match="fitted on columns"):
        compile_explainer(named, tuple(reversed(COLUMNS)))
