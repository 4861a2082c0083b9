"""The uplift task in the pipeline (upsell_uplift) on the session build: its experiment rows,
its registered learner and held-out figures, its scores in SQL, the persuadables audience."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pandas as pd
import pytest
from scipy.stats import spearmanr

from propensity.models import metrics_summary
from propensity.report import write_reports
from propensity.uplift import LEARNERS, UPLIFT_FAMILIES
from propensity.uplift_metrics import qini_coefficient, uplift_summary

TASK = "upsell_uplift"
CAMPAIGN = "upsell_persuadables_dec"
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def registered(built, dbt) -> pd.Series:
    rows = dbt.query(built.warehouse, "select * from ml.model_registry where task = ?", [TASK])
    assert len(rows) == 1
    return rows.iloc[0]


def test_training_rows_are_the_upsell_campaigns_complete_exposures(built, dbt) -> None:
    """Recomputed in pandas: each exposure of a campaign whose seed task is upsell, joined to
    the up-sell labelled rows at its snapshot; outcome has_upgraded, treatment is_treatment."""
    got = dbt.query(
        built.warehouse,
        f"select campaign_exposure_id, campaign_id, customer_id, snapshot_date, is_treatment, "
        f"has_upgraded from ml.{TASK}_training_set order by campaign_exposure_id",
    )
    campaigns = dbt.query(built.warehouse, "select campaign_id, task from config.campaigns")
    exposures = dbt.query(
        built.warehouse,
        "select campaign_exposure_id, campaign_id, customer_id, snapshot_date, is_treatment "
        "from marts.campaign_exposures",
    )
    labelled = dbt.query(
        built.warehouse,
        "select customer_id, snapshot_date, has_upgraded from ml.upsell_training_set",
    )
    upsell_campaigns = set(campaigns.loc[campaigns["task"] == "upsell", "campaign_id"])
    expected = (
        exposures[exposures["campaign_id"].isin(upsell_campaigns)]
        .merge(labelled, on=["customer_id", "snapshot_date"], how="inner", validate="1:1")
        .sort_values("campaign_exposure_id")
        .reset_index(drop=True)
    )
    assert len(got) > 300
    assert set(got["campaign_id"]) == {"upsell_upgrade_pilot", "upsell_upgrade_rollout"}
    pd.testing.assert_frame_equal(got, expected[got.columns], check_dtype=False)
    # Exposures of other tasks' campaigns (retention) are not rows.
    assert len(exposures[~exposures["campaign_id"].isin(upsell_campaigns)]) > 0


def test_registry_figures_recomputed_from_the_held_out_predictions(built, dbt, registered):
    """Qini, AUUC and uplift@k of every learner and response model, recomputed with
    uplift_metrics from the stored held-out predictions (the newest campaign, the rollout)."""
    metrics = json.loads(registered["metrics_json"])
    evaluation = json.loads(registered["evaluation_json"])
    assert evaluation["held_out_campaign"] == "upsell_upgrade_rollout"
    assert evaluation["training_campaigns"] == ["upsell_upgrade_pilot"]
    held = pd.read_parquet(registered["predictions_path"])
    assert set(held["campaign_id"]) == {"upsell_upgrade_rollout"}
    assert len(held) == registered["validation_rows"]
    training = dbt.query(
        built.warehouse,
        f"select campaign_id, customer_id, snapshot_date, is_treatment, has_upgraded "
        f"from ml.{TASK}_training_set where campaign_id = 'upsell_upgrade_rollout'",
    )
    keys = ["campaign_id", "customer_id", "snapshot_date"]
    joined = held.merge(training, on=keys, validate="1:1")
    assert len(joined) == len(held)
    assert (joined["treatment"] == joined["is_treatment"].astype(int)).all()
    assert (joined["outcome"] == joined["has_upgraded"].astype(int)).all()
    names = [
        f"{learner}__{family}"
        for learner in (*LEARNERS, "response")
        for family in UPLIFT_FAMILIES  # the task's default families
    ] + ["random"]
    assert sorted(metrics) == sorted([*names, "model"])
    for name in names:
        expected = uplift_summary(held[f"score__{name}"], held["treatment"], held["outcome"])
        for figure in ("qini", "auuc", "uplift_at_10", "uplift_at_20", "uplift_at_30"):
            assert metrics[name][figure] == pytest.approx(expected[figure], abs=1e-12), (
                name,
                figure,
            )
    assert metrics["random"]["qini"] == pytest.approx(0.0, abs=1e-12)
    # `propensity models list` shows an uplift version's held-out Qini, not ROC-AUC.
    assert metrics_summary(metrics["model"]).startswith(f"Qini {metrics['model']['qini']:.5f}")
    chosen = registered["model_family"]
    assert metrics["model"] == metrics[chosen]
    learners = names[: len(LEARNERS) * len(UPLIFT_FAMILIES)]
    # Chosen by the out-of-fold Qini on the training campaign (the pilot), not held out.
    oof_qini = evaluation["selection"]["oof_qini"]
    assert sorted(oof_qini) == sorted(learners)
    assert chosen == max(learners, key=lambda name: (oof_qini[name], name))
    # The calibration: a + b x raw on the held-out rows as stored; the constant mean
    # pseudo-outcome when the out-of-fold ranking had no signal.
    calibration = evaluation["calibration"]
    signal = calibration["signal"]
    assert registered["calibration"] == ("uplift_linear" if signal else "uplift_constant")
    raw = held[f"score__{chosen}"].to_numpy(dtype=np.float64)
    expected = np.clip(calibration["intercept"] + calibration["slope"] * raw, -1, 1)
    np.testing.assert_allclose(held["calibrated"], expected, rtol=1e-12)
    if not signal:
        assert calibration["slope"] == 0
        assert calibration["intercept"] == pytest.approx(calibration["mean_pseudo_outcome"])
    overall = evaluation["calibration_check"]["overall"]
    treated, control = (held.loc[held["treatment"] == arm, "outcome"] for arm in (1, 0))
    assert overall["mean_predicted"] == pytest.approx(held["calibrated"].mean())
    assert overall["observed_uplift"] == pytest.approx(treated.mean() - control.mean())
    print(
        "\n"
        + "\n".join(
            f"{name:46s} Qini {metrics[name]['qini']:+.5f} OOF {oof_qini.get(name, np.nan):+.5f}"
            for name in names
        )
        + f"\nchosen {chosen}, calibration {calibration}"
    )


def test_sql_uplift_scores_equal_onnxruntime_on_every_as_of_row(built, dbt, registered):
    features = json.loads(registered["feature_columns"])
    casts = ", ".join(f'cast(features."{column}" as double) as "{column}"' for column in features)
    frame = dbt.query(
        built.warehouse,
        f"select scores.customer_id, scores.score, {casts} from ml.{TASK}_scores as scores "
        "inner join marts.customer_feature_snapshots as features "
        "using (customer_id, snapshot_date) order by scores.customer_id",
    )
    population = dbt.scalar(
        built.warehouse,
        "select count(*) from intermediate.int_upsell_labels as labels "
        "inner join intermediate.int_snapshot_dates as snapshots using (snapshot_date) "
        "where snapshots.is_as_of_snapshot",
    )
    assert len(frame) == population > 500
    session = onnxruntime.InferenceSession(
        registered["onnx_path"], providers=["CPUExecutionProvider"]
    )
    matrix = frame[features].to_numpy(dtype=np.float64, na_value=np.nan).astype(np.float32)
    (uplift,) = session.run(["uplift"], {session.get_inputs()[0].name: matrix})
    difference = np.abs(frame["score"].to_numpy() - uplift[:, 0].astype(np.float64))
    print(f"\n{TASK}: max |SQL - onnxruntime| over {len(frame)}: {difference.max():.2e}")
    assert difference.max() <= TOLERANCE
    # An uplift is a difference of probabilities; some customers are predicted to be put off.
    assert frame["score"].between(-1, 1).all()
    calibration = json.loads(registered["evaluation_json"])["calibration"]
    if calibration["signal"]:
        assert frame["score"].nunique() > 10
    else:  # no out-of-fold signal: every customer gets the average effect
        assert np.abs(frame["score"] - calibration["intercept"]).max() <= TOLERANCE


def test_persuadables_audience_recomputed_from_scores_and_seed(built, dbt):
    """No predicted uplift <= 0; expected profit = uplift x value x margin - cost > 0 (rule
    max_profit); ranked by score (rank_by); capped by max_contacts; suppressions removed."""
    campaign = dbt.query(
        built.warehouse, "select * from config.campaigns where campaign_id = ?", [CAMPAIGN]
    ).iloc[0]
    scores = dbt.query(
        built.warehouse, f"select customer_id, score from ml.{TASK}_scores order by customer_id"
    )
    suppressed = dbt.query(
        built.warehouse,
        "select distinct customer_id from audiences.campaign_suppressions where campaign_id = ?",
        [CAMPAIGN],
    )
    audience = dbt.query(
        built.warehouse,
        "select customer_id, score, expected_value, expected_profit, is_incremental_profit, "
        "audience_rank, next_best_action from audiences.campaign_audiences "
        "where campaign_id = ? order by audience_rank",
        [CAMPAIGN],
    )
    candidates = scores[~scores["customer_id"].isin(suppressed["customer_id"])].copy()
    candidates["expected_profit"] = (
        candidates["score"] * campaign["value_per_conversion"] * campaign["margin_rate"]
        - campaign["cost_per_contact"]
    )
    candidates = candidates.sort_values(["score", "customer_id"], ascending=[False, True])
    expected = candidates[(candidates["score"] > 0) & (candidates["expected_profit"] > 0)]
    if pd.notna(campaign["max_contacts"]):
        expected = expected.head(int(campaign["max_contacts"]))
    assert len(audience) > 0
    assert audience["customer_id"].tolist() == expected["customer_id"].tolist()
    assert (audience["score"] > 0).all()
    assert audience["is_incremental_profit"].all()
    np.testing.assert_allclose(
        audience["expected_profit"].to_numpy(), expected["expected_profit"].to_numpy(), rtol=1e-9
    )
    assert audience["expected_profit"].is_monotonic_decreasing
    assert set(audience["next_best_action"]) == {"persuadable_upgrade"}
    # Propensity campaigns say their profit is not incremental.
    flags = dbt.query(
        built.warehouse,
        "select campaign_id, bool_or(is_incremental_profit) as incremental "
        "from audiences.campaign_audiences group by campaign_id",
    ).set_index("campaign_id")["incremental"]
    assert flags[CAMPAIGN] and not flags.drop(CAMPAIGN).any()
    print(
        f"\n{CAMPAIGN}: {len(audience)} of {len(scores)} scored "
        f"({int((scores['score'] <= 0).sum())} with uplift <= 0), expected incremental profit "
        f"{audience['expected_profit'].sum():.1f}"
    )


def test_decisions_still_give_one_action_per_customer(built, dbt):
    counts = dbt.query(
        built.warehouse,
        "select customer_id, count(*) as actions from decisions.next_best_actions "
        "group by customer_id having count(*) > 1",
    )
    assert counts.empty
    decisions = dbt.query(
        built.warehouse,
        "select campaign_id, is_incremental_profit from decisions.next_best_actions",
    )
    # The CRM table says which expected profits are incremental: exactly the uplift campaign's.
    incremental = decisions["campaign_id"] == CAMPAIGN
    assert incremental.any() and (~incremental).any()
    assert (decisions["is_incremental_profit"] == incremental).all()
    print(f"\n{CAMPAIGN}: chosen for {int(incremental.sum())} of {len(decisions)} customers")


def test_report_page_with_the_gap_to_the_true_effects(built, dbt, registered, tmp_path):
    """propensity report writes the uplift page: curves, metrics, normalisation, the campaign's
    audience and, with the truth, the oracle's Qini, the model's share of it, Spearman and the
    persuadables' mean true uplift, all recomputed here on the held-out rows."""
    version = registered["model_version"]
    (summary,) = write_reports(
        built.warehouse, tmp_path, version=version, truth_file=built.truth_dir
    )
    page = summary.path.read_text(encoding="utf-8")
    for text in ("Qini curves", "<svg", "oracle (true uplift)", "random ranking scores 0"):
        assert text in page, text
    held = pd.read_parquet(registered["predictions_path"])
    truth = pd.read_parquet(built.truth_dir / "uplift_truth.parquet")
    rows = held.merge(truth, on=["campaign_id", "customer_id"], validate="1:1")
    assert len(rows) == len(held)
    score = rows[f"score__{registered['model_family']}"]
    oracle = qini_coefficient(rows["true_uplift"], rows["treatment"], rows["outcome"])
    model = qini_coefficient(score, rows["treatment"], rows["outcome"])
    rho = spearmanr(score, rows["true_uplift"]).statistic
    # The persuadables rule reads the calibrated uplift (what the SQL scores are).
    calibrated = rows["calibrated"]
    persuadable = (calibrated > 0) & (calibrated * 600 * 0.7 > 2)
    expected = [
        f"{oracle:.5f}",
        f"{model:.5f} ({model / oracle * 100:.1f}%)",
        f"{rho:.3f}",
        f"{rows.loc[persuadable, 'true_uplift'].mean() * 100:.1f}% ({int(persuadable.sum())} rows)",
        f"vs {rows['true_uplift'].mean() * 100:.1f}%",
        f"{calibrated[persuadable].mean() * 100:.1f}% vs {calibrated.mean() * 100:.1f}%",
        "Selection and calibration",
        f"b {json.loads(registered['evaluation_json'])['calibration']['slope']:.4f}",
    ]
    if registered["calibration"] == "uplift_constant":
        expected.append("NOT better than random")
    for text in expected:
        assert text in page, text
    size = dbt.scalar(
        built.warehouse,
        "select count(*) from audiences.campaign_audiences where campaign_id = ?",
        [CAMPAIGN],
    )
    assert f"{size:,} of " in page
    print(
        f"\noracle Qini {oracle:.5f}, model {model:.5f} ({model / oracle:.0%}), Spearman "
        f"{rho:.3f}, persuadables' mean true uplift "
        f"{rows.loc[persuadable, 'true_uplift'].mean():.4f} vs {rows['true_uplift'].mean():.4f}"
    )
