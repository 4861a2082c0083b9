"""Contribution SQL of the regression families: bias plus the features' contributions is the
log of the predicted amount, row by row, for the Poisson GLM and the boosted Poisson trees."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from propensity.explain import compile_explainer, contribution_column
from propensity.regression import regression_candidate_models

COLUMNS = ("total_spend", "orders_count_90d", "days_since_last_order")
TOLERANCE = 1e-6


def value_rows(seed: int = 4, rows: int = 3000) -> tuple[pd.DataFrame, np.ndarray]:
    """Three features (15% missing) and a zero-inflated amount driven by them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "total_spend": rng.gamma(2.0, 300.0, rows),
            "orders_count_90d": rng.poisson(1.2, rows).astype(float),
            "days_since_last_order": rng.integers(1, 400, rows).astype(float),
        }
    )
    mean = np.exp(
        3.0
        + 0.001 * frame["total_spend"]
        + 0.4 * frame["orders_count_90d"]
        - 0.004 * frame["days_since_last_order"]
    )
    amount = rng.poisson(mean / 50) * 50.0
    for column in COLUMNS:
        frame.loc[rng.random(rows) < 0.15, column] = np.nan
    return frame, amount


@pytest.mark.parametrize("family", ["poisson_regression", "poisson_gradient_boosting"])
def test_bias_plus_contributions_is_the_log_of_the_prediction(family):
    frame, amount = value_rows()
    x = frame[list(COLUMNS)].to_numpy(dtype=np.float32)
    pipeline = regression_candidate_models(seed=2)[family]
    pipeline.fit(x, amount)
    explainer = compile_explainer(pipeline, COLUMNS)
    assert explainer.model_family == family
    table = frame.reset_index(drop=True).assign(row_id=np.arange(len(frame)))
    with duckdb.connect() as connection:
        connection.register("value_rows", table)
        sql = explainer.select_sql("value_rows", ["row_id"])
        result = connection.sql(f"select * from ({sql}) order by row_id").df()
    contributions = result[[contribution_column(c) for c in COLUMNS]].to_numpy()
    log_prediction = np.log(pipeline.predict(x.astype(np.float64)))
    np.testing.assert_allclose(
        explainer.bias + contributions.sum(axis=1), log_prediction, rtol=0, atol=TOLERANCE
    )
    # Every feature moves some customer's amount.
    assert (np.abs(contributions).max(axis=0) > 0.01).all()
