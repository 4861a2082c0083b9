"""`propensity train-uplift-table` on a seeded experiment table with planted heterogeneous
effects (known true uplift): the registered learner beats the response model and random on
held-out rows, its SQL uplift equals onnxruntime's row for row (score-table too, with NULLs),
the persuadables audience is what the economics say, and bad experiments are refused by name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from propensity.table_scoring import load_version, python_scores, scoring_query
from propensity.uplift import LEARNERS, UPLIFT_FAMILIES
from propensity.uplift_metrics import qini_coefficient
from test_own_table import run
from test_uplift import one_thread, planted_experiment  # noqa: F401 (one OpenMP thread)

ROWS = 10000
SEED = 31
TOLERANCE = 1e-5
VALUE, MARGIN, COST = 100.0, 0.3, 2.0


def experiment_table(rows: int, seed: int) -> pd.DataFrame:
    """The planted experiment as a user's table: a boolean treatment, a text region with nulls
    (no effect), the true uplift kept for the test (excluded from the features)."""
    frame = planted_experiment(rows, seed)
    rng = np.random.default_rng(seed + 1)
    region = rng.choice(["north", "south", "east"], rows).astype(object)
    region[rng.random(rows) < 0.05] = None
    return frame.assign(region=region, treated=frame["treated"].astype(bool))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("uplift_table")
    paths = {
        "table": root / "campaign.parquet",
        "new": root / "new_customers.parquet",
        "warehouse": root / "warehouse.duckdb",
        "models": root / "models",
        "reports": root / "reports",
    }
    experiment_table(ROWS, SEED).to_parquet(paths["table"], index=False)
    new = experiment_table(300, SEED + 7).drop(columns=["treated", "converted"])
    new["customer_key"] += 10**6
    new.loc[:20, "income"] = None
    new.loc[10:30, "region"] = "west"  # unseen
    new.to_parquet(paths["new"], index=False)
    return paths


def base_arguments(files: dict[str, Path]) -> list[str]:
    return [
        "train-uplift-table",
        "--input",
        str(files["table"]),
        "--treatment",
        "treated",
        "--outcome",
        "converted",
        "--exclude",
        "true_uplift",
        "--warehouse",
        str(files["warehouse"]),
        "--model-dir",
        str(files["models"]),
    ]


@pytest.fixture(scope="module")
def trained(files) -> dict:
    arguments = [
        *base_arguments(files),
        "--id",
        "customer_key",
        "--time",
        "assigned_at",
        "--value",
        str(VALUE),
        "--margin",
        str(MARGIN),
        "--cost",
        str(COST),
    ]
    code, printed = run(arguments)
    assert code == 0, printed
    with duckdb.connect(str(files["warehouse"]), read_only=True) as connection:
        registry = connection.execute(
            "select * from ml.model_registry where model_version = 'campaign-v1'"
        ).df()
        scores = connection.execute("select * from ml.campaign_scores").df()
        audience = connection.execute(
            "select * from ml.campaign_persuadables order by audience_rank"
        ).df()
    evaluation = json.loads(registry["evaluation_json"].iloc[0])
    return {
        "printed": printed,
        "registry": registry.iloc[0],
        "evaluation": evaluation,
        "scores": scores,
        "audience": audience,
    }


def test_the_chosen_learner_beats_the_response_model_out_of_time(trained, files) -> None:
    evaluation = trained["evaluation"]
    metrics, chosen = evaluation["metrics"], evaluation["chosen"]
    assert evaluation["objective"] == "uplift"
    assert trained["registry"]["model_family"] == chosen
    assert evaluation["split"]["out_of_time"] is True
    learners = [name for name in metrics if not name.startswith(("response__", "random"))]
    assert len(learners) == len(LEARNERS) * len(UPLIFT_FAMILIES)
    # Chosen by the out-of-fold Qini on the training periods; calibrated on the same rows.
    oof_qini = evaluation["selection"]["oof_qini"]
    assert chosen == max(learners, key=lambda name: (oof_qini[name], name))
    calibration = evaluation["calibration"]
    assert calibration["signal"] and calibration["slope"] > 0
    assert trained["registry"]["calibration"] == "uplift_linear"
    assert (
        f"chosen by out-of-fold Qini {oof_qini[chosen]:+.5f} on the training rows; calibrated "
        f"uplift = {calibration['intercept']:+.5f} + {calibration['slope']:.4f} x raw"
    ) in trained["printed"]
    assert metrics["random"]["qini"] == 0.0
    for name in ("response__logistic_regression", "response__hist_gradient_boosting"):
        assert metrics[chosen]["qini"] > metrics[name]["qini"] > 0
    # Recomputed from the stored held-out predictions with the true uplift beside them.
    predictions = pd.read_parquet(trained["registry"]["predictions_path"])
    truth = pd.read_parquet(files["table"])[["customer_key", "true_uplift"]]
    held = predictions.merge(truth, on="customer_key", validate="one_to_one")
    assert len(held) == trained["registry"]["validation_rows"]
    score = held[f"score__{chosen}"]
    assert metrics[chosen]["qini"] == pytest.approx(
        qini_coefficient(score, held["treatment"], held["outcome"])
    )
    np.testing.assert_allclose(
        held["calibrated"],
        np.clip(calibration["intercept"] + calibration["slope"] * score.astype(float), -1, 1),
        rtol=1e-12,
    )
    # Calibrated, the mean predicted uplift of the held-out rows is near their true mean
    # (measured 3.1% against 5.1%; the observed treated - control difference is 2.7%).
    assert held["calibrated"].mean() == pytest.approx(held["true_uplift"].mean(), abs=0.03)
    oracle = qini_coefficient(held["true_uplift"], held["treatment"], held["outcome"])
    assert 0.5 * oracle < metrics[chosen]["qini"] < 1.1 * oracle
    # Measured 0.902 (seed 31: two-model logistic chosen on OOF Qini, 0.01658; the boosted
    # class transformation has the best held-out Qini, 0.01548 against 0.01468).
    assert spearmanr(score, held["true_uplift"]).statistic > 0.7


def test_the_sql_uplift_equals_onnxruntime_on_every_row(trained, files) -> None:
    scores = trained["scores"]
    assert len(scores) == ROWS
    assert set(scores["model_version"]) == {"campaign-v1"}
    assert "parity: SQL vs onnxruntime" in trained["printed"] and ": ok" in trained["printed"]
    with duckdb.connect(str(files["warehouse"]), read_only=True) as connection:
        stored = load_version(connection, "campaign-v1")
        expected = python_scores(connection, stored)
        actual = connection.execute(f"select * from ({scoring_query(stored)}) as scored").df()
    joined = actual.merge(expected, on=["customer_key", "assigned_at"], suffixes=("", "_onnx"))
    assert len(joined) == ROWS
    assert np.max(np.abs(joined["score"] - joined["score_onnx"])) <= TOLERANCE
    # The uplift is heterogeneous: sleeping dogs get negative scores.
    truth = pd.read_parquet(files["table"])[["customer_key", "true_uplift"]]
    scored = scores.merge(truth, on="customer_key")
    assert (scored["score"] < 0).any() and (scored["score"] > 0.1).any()
    assert scored.loc[scored["true_uplift"] < -0.05, "score"].mean() < 0


def test_score_table_scores_new_rows_with_nulls_and_unseen_values(trained, files) -> None:
    code, printed = run(
        [
            "score-table",
            "--version",
            "campaign-v1",
            "--input",
            str(files["new"]),
            "--into",
            "ml.new_campaign_scores",
            "--warehouse",
            str(files["warehouse"]),
            "--check-parity",
            "1000",
        ]
    )
    assert code == 0, printed
    assert "300 rows" in printed and ": ok" in printed
    with duckdb.connect(str(files["warehouse"]), read_only=True) as connection:
        scores = connection.execute("select score from ml.new_campaign_scores").df()["score"]
    assert scores.notna().all() and len(scores) == 300


def test_the_persuadables_audience_follows_the_economics(trained) -> None:
    scores, audience = trained["scores"], trained["audience"]
    profit = scores["score"] * VALUE * MARGIN - COST
    wanted = scores[(scores["score"] > 0) & (profit > 0)]
    assert set(audience["customer_key"]) == set(wanted["customer_key"])
    assert (audience["uplift"] > COST / (VALUE * MARGIN)).all()
    assert audience["expected_incremental_profit"].is_monotonic_decreasing
    assert audience["audience_rank"].tolist() == list(range(1, len(audience) + 1))
    total = float((wanted["score"] * VALUE * MARGIN - COST).sum())
    assert f"expected incremental profit {total:,.2f}" in trained["printed"]
    negative = int((scores["score"] < 0).sum())
    assert f"{negative:,} with negative uplift left out" in trained["printed"]


def test_the_report_pages(trained, files) -> None:
    page = (files["models"] / "campaign" / "campaign-v1.html").read_text(encoding="utf-8")
    for text in (
        "<svg",
        "Qini curves",
        "response model (logistic)",
        "random targeting",
        "two-model",
    ):
        assert text in page
    assert "expected incremental profit" in page
    code, printed = run(
        [
            "report",
            "--warehouse",
            str(files["warehouse"]),
            "--version",
            "campaign-v1",
            "--out",
            str(files["reports"]),
        ]
    )
    assert code == 0, printed
    assert f"beats the {len(UPLIFT_FAMILIES)} response model(s)" in printed
    report = (files["reports"] / "campaign-v1.html").read_text(encoding="utf-8")
    assert "<svg" in report and "Held-out metrics" in report


def test_without_time_a_hash_split_and_a_new_version(trained, files) -> None:
    code, printed = run([*base_arguments(files), "--id", "customer_key", "--no-score"])
    assert code == 0, printed
    with duckdb.connect(str(files["warehouse"]), read_only=True) as connection:
        evaluation = json.loads(
            connection.execute(
                "select evaluation_json from ml.model_registry where model_version = 'campaign-v2'"
            ).fetchone()[0]
        )
    assert evaluation["split"]["kind"] == "hash" and evaluation["split"]["out_of_time"] is False
    assert "NOT out of time" in printed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda frame: frame.assign(
                treated=frame["treated"].astype(int).where(frame.index != 3, 2)
            ),
            r"column 'treated' must be 0/1 or boolean; 1 row\(s\) hold '2' \(rows 4\)",
        ),
        (
            lambda frame: frame.assign(converted=np.where(frame["converted"] == 1, "yes", "no")),
            r"column 'converted' must be 0/1 or boolean; 10,000 row\(s\) hold 'no', 'yes'",
        ),
        (lambda frame: frame.assign(treated=True), "no control rows"),
    ],
)
def test_bad_experiments_are_refused_by_name(files, tmp_path, capsys, change, message) -> None:
    bad = tmp_path / "campaign.parquet"
    change(pd.read_parquet(files["table"])).to_parquet(bad, index=False)
    arguments = base_arguments(files)
    arguments[arguments.index("--input") + 1] = str(bad)
    arguments[arguments.index("--warehouse") + 1] = str(tmp_path / "warehouse.duckdb")
    code, _ = run([*arguments, "--id", "customer_key"])
    error = capsys.readouterr().err
    assert code == 1
    assert re.search(message, error), error
