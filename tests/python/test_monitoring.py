"""Monitoring: feature and score drift (PSI) and realised performance, through real dbt builds.

PSI is recomputed in numpy from the raw values and compared with what SQL stored; the PSI
macros give 0 on identical populations and match a hand-computed example; perturbed as-of
features make the drift tests warn and then fail the build; scores kept across builds meet
their matured labels, with the SQL ROC-AUC equal to scikit-learn's.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from propensity.pipeline import PROJECT_DIR, DbtRunError

EPSILON = 1e-4
QUANTILE_BINS = 10
SCORE = "__score__"
# A feature with missing values, so the missing bin is exercised too.
FEATURE = "days_since_last_order"
PERTURBED_FEATURE = "tenure_days"
# Callers of the drift macros outside a model name the registry they read (dbt cannot see
# a ref made inside a macro that only runs at execution time).
DEPENDS_ON_REGISTRY = "-- depends_on: {{ ref('model_registry') }}\n"


def upsell_drift_only() -> dict[str, object]:
    """The var tasks as dbt_project.yml declares them, with drift thresholds no other task's
    PSI reaches: the drift tests below perturb features that other tasks' models read too."""
    tasks = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["tasks"]
    for task, settings in tasks.items():
        if task != "upsell":
            settings.update(psi_warn=1e9, psi_fail=1e9)
    return {"tasks": tasks}


def show(dbt, capsys, built, warehouse, sql: str) -> pd.DataFrame:
    """The rows of an inline query that dbt compiles (refs, macros) and runs: dbt show."""
    capsys.readouterr()
    dbt.run(
        ["show", "--inline", sql, "--limit", "-1", "--output", "json", "--quiet"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={"model_dir": str(built.model_dir)},
    )
    printed = capsys.readouterr().out
    payload, _ = json.JSONDecoder().raw_decode(printed[printed.index("{") :])
    return pd.DataFrame(payload["show"])


def quantile_upper_edges(values: np.ndarray) -> np.ndarray:
    """The distinct maxima of 10 ntile groups of the sorted non-missing values."""
    ordered = np.sort(values[~np.isnan(values)])
    groups = np.array_split(ordered, QUANTILE_BINS)
    return np.unique([group.max() for group in groups if len(group)])


def bin_counts(values: np.ndarray, closed_upper_edges: np.ndarray) -> np.ndarray:
    """Rows per bin: 0 = missing, k = (edge k-1, edge k], the last bin open above."""
    missing = np.isnan(values)
    bins = np.searchsorted(closed_upper_edges, values[~missing], side="left") + 1
    counts = np.bincount(bins, minlength=len(closed_upper_edges) + 2)
    counts[0] = missing.sum()
    return counts


def numpy_psi(expected_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    """Sum of (a - e) * ln(a / e) over bins, shares floored at EPSILON."""
    expected = np.maximum(expected_counts / expected_counts.sum(), EPSILON)
    actual = np.maximum(actual_counts / actual_counts.sum(), EPSILON)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@pytest.fixture(scope="module")
def model_in_use(built, dbt) -> pd.Series:
    """The registry row of the version that scored the as-of snapshot."""
    frame = dbt.query(
        built.warehouse,
        "select * from ml.model_registry where model_version in "
        "(select model_version from ml.upsell_scores)",
    )
    assert len(frame) == 1
    return frame.iloc[0]


def test_psi_in_sql_equals_numpy_on_the_raw_values(built, dbt, model_in_use):
    warehouse = built.warehouse
    reference_date = model_in_use["training_snapshot_end"].date()
    drift = dbt.query(
        warehouse, "select * from monitoring.feature_drift where task = 'upsell'"
    ).set_index("feature_name")
    features = json.loads(model_in_use["feature_columns"])
    assert sorted(drift.index) == sorted([*features, SCORE])
    assert set(drift["kind"]) == {"feature", "score"} and drift.loc[SCORE, "kind"] == "score"
    assert set(drift["reference_snapshot_start"].dt.date) == {reference_date}
    assert set(drift["snapshot_date"].dt.date) == {date(2026, 11, 1)}

    reference_filter = (
        "inner join ml.upsell_training_set as training on "
        "features.customer_id = training.customer_id "
        "and features.snapshot_date = training.snapshot_date "
        f"where training.snapshot_date = date '{reference_date}'"
    )
    as_of_filter = (
        "inner join ml.upsell_scores as scores on features.customer_id = scores.customer_id "
        "and features.snapshot_date = scores.snapshot_date"
    )
    with duckdb.connect(str(warehouse), read_only=True) as connection:

        def column(sql: str) -> np.ndarray:
            return connection.execute(sql).df().iloc[:, 0].to_numpy(dtype=float, na_value=np.nan)

        values = {
            FEATURE: (
                column(
                    f"select cast(features.{FEATURE} as double) "
                    f"from marts.customer_feature_snapshots as features {reference_filter}"
                ),
                column(
                    f"select cast(features.{FEATURE} as double) "
                    f"from marts.customer_feature_snapshots as features {as_of_filter}"
                ),
            ),
            # The reference rows scored by the registered SQL, as score_population does.
            SCORE: (
                column(
                    "select score from ("
                    + model_in_use["scoring_sql"].replace(
                        "__propensity_features__",
                        "(select features.* from marts.customer_feature_snapshots as features "
                        f"{reference_filter})",
                    )
                    + ")"
                ),
                column("select score from ml.upsell_scores"),
            ),
        }
    assert np.isnan(values[FEATURE][0]).any(), "the feature should have missing values"
    # 2,000 customers: fewer reference rows than max_training_rows, so no sample.
    assert drift.loc[FEATURE, "expected_rows"] == len(values[FEATURE][0])
    assert drift.loc[FEATURE, "actual_rows"] == len(values[FEATURE][1])

    for feature_name, (expected, actual) in values.items():
        bins = dbt.query(
            warehouse,
            "select * from monitoring.feature_drift_bins where feature_name = ? "
            "and task = 'upsell' order by bin_number",
            [feature_name],
        )
        edges = quantile_upper_edges(expected)
        closed = bins["upper_edge"].dropna().to_numpy()
        # The quantile edges, less the last (that bin is open above).
        np.testing.assert_array_equal(closed, edges[:-1])
        assert bins["bin_number"].tolist() == list(range(len(edges) + 1))
        assert bins["lower_edge"].iloc[2:].tolist() == closed.tolist()
        expected_counts = bin_counts(expected, closed)
        actual_counts = bin_counts(actual, closed)
        assert bins["expected_rows"].tolist() == expected_counts.tolist(), feature_name
        assert bins["actual_rows"].tolist() == actual_counts.tolist(), feature_name
        assert drift.loc[feature_name, "psi"] == pytest.approx(
            numpy_psi(expected_counts, actual_counts), rel=1e-12, abs=1e-15
        )
        assert 0 < drift.loc[feature_name, "psi"] < 0.1


def test_demo_data_is_stable_against_the_last_training_snapshot(built, dbt):
    drift = dbt.query(
        built.warehouse,
        "select feature_name, psi, drift_status from monitoring.feature_drift "
        "where task = 'upsell'",
    )
    assert drift["psi"].max() < 0.1, drift.sort_values("psi").tail()
    assert set(drift["drift_status"]) == {"stable"}


def test_psi_of_identical_populations_is_zero(built, dbt, capsys, tmp_path, model_in_use):
    """The drift macro on the model's whole training population as both sides: every
    feature and the score have PSI exactly 0, with the same rows in every bin."""
    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "identical.duckdb")
    start = model_in_use["training_snapshot_start"].date()
    end = model_in_use["training_snapshot_end"].date()
    bins = show(
        dbt,
        capsys,
        built,
        warehouse,
        DEPENDS_ON_REGISTRY
        + f"""
with training_population as (
    select customer_id, snapshot_date
    from {{{{ ref('upsell_training_set') }}}}
    where snapshot_date between '{start}' and '{end}'
),
drift_bins as (
    {{{{ task_drift_bins('upsell', ref('customer_feature_snapshots'),
        'training_population', 'training_population') }}}}
)
select * from drift_bins
""",
    )
    population = dbt.scalar(
        warehouse,
        "select count(*) from ml.upsell_training_set where snapshot_date between ? and ?",
        [start, end],
    )
    assert population > 10_000
    features = json.loads(model_in_use["feature_columns"])
    psi = bins.groupby("feature_name")["psi_contribution"].sum()
    assert sorted(psi.index) == sorted([*features, SCORE])
    assert (psi == 0.0).all(), psi[psi != 0]
    assert (bins["expected_rows"] == bins["actual_rows"]).all()
    assert (bins.groupby("feature_name")["expected_rows"].sum() == population).all()
    assert bins["bin_number"].max() == QUANTILE_BINS
    # Tied values merge quantile edges: a 0/1 feature has two value bins, not ten.
    assert bins[bins["feature_name"] == "has_escalation_90d"]["bin_number"].max() == 2


def test_psi_macro_matches_hand_computed_examples(built, dbt, capsys, tmp_path):
    """f: ties merge five zeros into one bin, an emptied bin and new missing values take
    the epsilon floor; g: no empty bin; h: only missing reference values, one open bin;
    k: a constant reference is one bin, so other actual values stay in it; m: no
    reference rows, left out."""
    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "hand.duckdb")
    expected = {
        "f": [0, 0, 0, 0, 0, 1, 2, 3, 4, 5],
        "g": list(range(1, 11)),
        "h": [None, None],
        "k": [5, 5, 5, 5],
    }
    actual = {
        "f": [0, 0, 0, 1, 1, 2, 3, 9, None, None],
        "g": [1, 1, 1] + [k for k in range(2, 10) for _ in range(2)] + [10],
        "h": [1, None],
        "k": [5, 7, 3, 5],
        "m": [1, 2],
    }

    def rows(side: dict[str, list]) -> str:
        return ", ".join(
            f"('{name}', {'null' if value is None else value})"
            for name, values in side.items()
            for value in values
        )

    bins = show(
        dbt,
        capsys,
        built,
        warehouse,
        f"""
with expected as (
    select feature_name, cast(raw_value as double) as value
    from (values {rows(expected)}) as given (feature_name, raw_value)
),
actual as (
    select feature_name, cast(raw_value as double) as value
    from (values {rows(actual)}) as given (feature_name, raw_value)
),
drift_bins as (
    {{{{ population_stability_bins('expected', 'actual', ['feature_name']) }}}}
)
select * from drift_bins
""",
    )
    psi = bins.groupby("feature_name")["psi_contribution"].sum().to_dict()
    assert sorted(psi) == ["f", "g", "h", "k"]

    # f: reference shares missing 0, (-inf,0] .5, (0,1] .1, (1,2] .1, (2,3] .1, (3,4] .1,
    # (4,inf) .1; actual .2, .3, .2, .1, .1, 0, .1.
    f_bins = bins[bins["feature_name"] == "f"].sort_values("bin_number")
    assert f_bins["upper_edge"].tolist()[1:-1] == [0, 1, 2, 3, 4]
    assert f_bins["actual_rows"].tolist() == [2, 3, 2, 1, 1, 0, 1]
    hand_f = (
        (0.2 - EPSILON) * math.log(0.2 / EPSILON)
        + (0.3 - 0.5) * math.log(0.3 / 0.5)
        + (0.2 - 0.1) * math.log(0.2 / 0.1)
        + (EPSILON - 0.1) * math.log(EPSILON / 0.1)
    )
    assert hand_f == pytest.approx(2.380985, abs=1e-6)
    assert psi["f"] == pytest.approx(hand_f, rel=1e-12)
    # g: ten bins of .1; actual .15 in the first, .05 in the last, .1 elsewhere.
    assert psi["g"] == pytest.approx(0.05 * math.log(1.5) + 0.05 * math.log(2), rel=1e-12)
    assert psi["g"] == pytest.approx(0.054931, abs=1e-6)
    # h: reference 100% missing; actual half missing, half in the one open bin.
    hand_h = (0.5 - 1) * math.log(0.5) + (0.5 - EPSILON) * math.log(0.5 / EPSILON)
    assert psi["h"] == pytest.approx(hand_h, rel=1e-12)
    assert psi["h"] == pytest.approx(4.604318, abs=1e-6)
    assert psi["k"] == 0.0
    assert sorted(bins[bins["feature_name"] == "k"]["bin_number"]) == [0, 1]


def perturb_as_of(warehouse, feature: str, condition: str) -> None:
    """Multiply a feature by 10 for the as-of snapshot rows that meet condition."""
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(
            f"update marts.customer_feature_snapshots set {feature} = {feature} * 10 "
            f"where is_as_of_snapshot and ({condition})"
        )


def drift_statuses(dbt, warehouse) -> dict[str, str]:
    return dict(
        dbt.rows(
            warehouse,
            "select feature_name, drift_status from monitoring.feature_drift "
            "where drift_status <> 'stable' and task = 'upsell'",
        )
    )


def test_drift_tests_warn_then_fail_the_build(built, dbt, tmp_path):
    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "drift.duckdb")
    arguments = ["build", "--select", "feature_drift_bins+"]
    variables = {"model_dir": str(built.model_dir), **upsell_drift_only()}

    # A fifth of the as-of customers with ten times their tenure: PSI between 0.1 and 0.25.
    perturb_as_of(warehouse, PERTURBED_FEATURE, "customer_id % 100 < 20")
    work = dbt.run(arguments, warehouse=warehouse, raw_dir=built.raw_dir, variables=variables)
    log = (work / "logs" / "dbt.log").read_text(errors="replace")
    # Every customer task reads tenure, so each of them warns (one row per task or more).
    assert re.search(r"WARN \d+ feature_drift_psi_below_psi_warn", log)
    assert "PASS feature_drift_psi_below_psi_fail" in log
    # The score moves with it only as much as the model leans on the feature.
    statuses = drift_statuses(dbt, warehouse)
    assert statuses.pop(SCORE, "warn") == "warn"
    assert statuses == {PERTURBED_FEATURE: "warn"}
    psi = dbt.scalar(
        warehouse,
        "select psi from monitoring.feature_drift where feature_name = ? and task = 'upsell'",
        [PERTURBED_FEATURE],
    )
    assert 0.1 <= psi < 0.25

    # Every as-of customer with ten times their tenure: the build fails.
    perturb_as_of(warehouse, PERTURBED_FEATURE, "customer_id % 100 >= 20")
    with pytest.raises(DbtRunError, match="feature_drift_psi_below_psi_fail"):
        dbt.run(arguments, warehouse=warehouse, raw_dir=built.raw_dir, variables=variables)
    statuses = drift_statuses(dbt, warehouse)
    assert statuses.pop(SCORE, "fail") in ("warn", "fail")
    assert statuses == {PERTURBED_FEATURE: "fail"}


def test_reference_rows_above_max_training_rows_are_a_stable_hash_sample(built, dbt, tmp_path):
    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "sampled.duckdb")
    population = dbt.scalar(
        warehouse, "select max(expected_rows) from monitoring.feature_drift where task = 'upsell'"
    )
    arguments = ["run", "--select", "feature_drift_bins", "feature_drift"]
    variables = {"model_dir": str(built.model_dir), "max_training_rows": population // 2}
    dbt.run(arguments, warehouse=warehouse, raw_dir=built.raw_dir, variables=variables)
    sampled = dbt.rows(
        warehouse,
        "select distinct expected_rows from monitoring.feature_drift where task = 'upsell'",
    )
    assert len(sampled) == 1
    # About half, binomial: within 6 standard deviations of population / 2.
    assert abs(sampled[0][0] - population / 2) < 6 * math.sqrt(population / 4)


def test_score_history_meets_matured_labels(built, dbt, tmp_path):
    """Score 2026-08-01, then the default as-of (2026-11-01) without retraining: history
    keeps both; 2026-08-01's labels have matured by then, 2026-11-01's have not."""
    warehouse = dbt.copy_warehouse(built.warehouse, tmp_path / "history.duckdb")
    # Cautious: only tests whose every parent is rebuilt here (an unselected model that
    # still holds the other snapshot would fail a relationships test to the scores).
    arguments = ["build", "--select", "+realised_performance", "--indirect-selection", "cautious"]
    variables = {"model_dir": str(built.model_dir)}
    first_scored_at = dbt.scalar(warehouse, "select max(scored_at) from monitoring.score_history")
    dbt.run(
        arguments,
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables={**variables, "as_of_date": "2026-08-01"},
    )
    august = dbt.query(warehouse, "select customer_id, score from ml.upsell_scores")
    dbt.run(arguments, warehouse=warehouse, raw_dir=built.raw_dir, variables=variables)
    november = dbt.query(warehouse, "select customer_id, score from ml.upsell_scores")

    assert dbt.rows(
        warehouse, "select model_version from ml.model_registry where task = 'upsell'"
    ) == [("upsell-v1",)]
    history = dbt.query(warehouse, "select * from monitoring.score_history where task = 'upsell'")
    assert not history.duplicated(["task", "model_version", "snapshot_date", "customer_id"]).any()
    by_snapshot = {
        snapshot.date(): rows.set_index("customer_id")["score"].sort_index()
        for snapshot, rows in history.groupby("snapshot_date")
    }
    assert sorted(by_snapshot) == [date(2026, 8, 1), date(2026, 11, 1)]
    pd.testing.assert_series_equal(
        by_snapshot[date(2026, 8, 1)], august.set_index("customer_id")["score"].sort_index()
    )
    pd.testing.assert_series_equal(
        by_snapshot[date(2026, 11, 1)], november.set_index("customer_id")["score"].sort_index()
    )
    # Scoring 2026-11-01 again replaced the session build's batch instead of adding to it.
    november_scored_at = history[history["snapshot_date"] == pd.Timestamp("2026-11-01")][
        "scored_at"
    ]
    assert (november_scored_at > first_scored_at).all()

    performance = dbt.query(
        warehouse,
        "select * from monitoring.realised_performance where task = 'upsell' "
        "order by snapshot_date",
    ).set_index("snapshot_date")
    assert performance.index.date.tolist() == [date(2026, 8, 1), date(2026, 11, 1)]
    pending = performance.loc[pd.Timestamp("2026-11-01")]
    assert pending["label_status"] == "pending"
    assert pending["labelled_rows"] == 0 and pending["labels_pending"] == len(november)
    assert pd.isna(pending["roc_auc"]) and pd.isna(pending["realised_rate"])

    labelled = dbt.query(
        warehouse,
        "select history.customer_id, history.score, training.has_upgraded "
        "from monitoring.score_history as history "
        "inner join ml.upsell_training_set as training "
        "on history.customer_id = training.customer_id "
        "and history.snapshot_date = training.snapshot_date "
        "where history.snapshot_date = date '2026-08-01' and history.task = 'upsell'",
    )
    labels = labelled["has_upgraded"].astype(int).to_numpy()
    scores = labelled["score"].to_numpy()
    matured = performance.loc[pd.Timestamp("2026-08-01")]
    assert matured["label_status"] == "matured"
    assert matured["scored_rows"] == len(august) == matured["labelled_rows"] == len(labelled)
    assert matured["labels_pending"] == 0
    assert matured["positives"] == labels.sum() > 5
    assert matured["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert matured["realised_rate"] == pytest.approx(labels.mean(), rel=1e-12)
    assert matured["mean_score"] == pytest.approx(scores.mean(), rel=1e-12)
    ranked = labelled.sort_values(["score", "customer_id"], ascending=[False, True])
    top = ranked.head(math.ceil(len(ranked) / 10))["has_upgraded"].astype(int)
    assert matured["top_decile_precision"] == pytest.approx(top.mean(), rel=1e-12)
    assert matured["top_decile_lift"] == pytest.approx(top.mean() / labels.mean(), rel=1e-12)
    assert matured["calibration_ratio"] == pytest.approx(scores.mean() / labels.mean(), rel=1e-12)

    # --full-refresh does not rebuild the history.
    dbt.run(
        ["run", "--select", "score_history", "--full-refresh"],
        warehouse=warehouse,
        raw_dir=built.raw_dir,
        variables=variables,
    )
    upsell_rows = "select count(*) from monitoring.score_history where task = 'upsell'"
    assert dbt.scalar(warehouse, upsell_rows) == len(history)
