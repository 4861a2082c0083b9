"""Uplift learners on the warehouse's campaign history, with the truth (figures for the bench).

The rows are the engine's uplift task's (`ml.upsell_uplift_training_set`: the up-sell
campaigns' exposures joined to the up-sell task's labelled rows at the exposure's snapshot
date): the features the campaign's audience was chosen on, and the outcome `has_upgraded` (a
move to a higher plan tier in the label window after the snapshot). The registry trains the
same rows as the task `upsell_uplift` (train_uplift.py); this module refits them with the
generator's true uplift beside, for the oracle figures.
The features are those of the up-sell model in use. The newest campaign is held out (out of
time); on demo data the generator's `uplift_truth.parquet` adds the oracle ranking.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from propensity.models import version_in_use
from propensity.onnx_sql import quote_identifier
from propensity.uplift import UpliftDataError, UpliftFit, fit_uplift

UPSELL_CAMPAIGNS = ("upsell_upgrade_pilot", "upsell_upgrade_rollout")


@dataclass(frozen=True)
class HistoryRows:
    """The exposures with features and outcome, and the feature columns."""

    frame: pd.DataFrame
    feature_columns: tuple[str, ...]
    exposures: int  # the campaigns' clean exposures, joined or not


def upsell_feature_columns(connection: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """The features of the up-sell model in use."""
    version = version_in_use(connection, "upsell")
    if version is None:
        raise UpliftDataError("no up-sell model in use in this warehouse")
    stored = connection.execute(
        "select feature_columns from ml.model_registry where model_version = ?", [version]
    ).fetchone()[0]
    return tuple(json.loads(stored))


def upsell_history_rows(
    connection: duckdb.DuckDBPyConnection, campaigns: Sequence[str] = UPSELL_CAMPAIGNS
) -> HistoryRows:
    """Each up-sell exposure with its snapshot's features and its outcome (0/1): the rows of
    the engine's uplift task (ml.upsell_uplift_training_set, the uplift_training_set macro)."""
    features = upsell_feature_columns(connection)
    listed = ", ".join("?" for _ in campaigns)
    selected = ", ".join(f"experiment_rows.{quote_identifier(column)}" for column in features)
    frame = connection.execute(
        f"""
        select
            experiment_rows.campaign_exposure_id,
            experiment_rows.campaign_id,
            experiment_rows.customer_id,
            experiment_rows.snapshot_date,
            cast(experiment_rows.is_treatment as integer) as treatment,
            cast(experiment_rows.has_upgraded as integer) as outcome,
            {selected}
        from ml.upsell_uplift_training_set as experiment_rows
        where experiment_rows.campaign_id in ({listed})
        order by experiment_rows.campaign_exposure_id
        """,
        list(campaigns),
    ).df()
    exposures = connection.execute(
        f"select count(*) from marts.campaign_exposures where campaign_id in ({listed})",
        list(campaigns),
    ).fetchone()[0]
    return HistoryRows(frame, features, int(exposures))


def with_truth(frame: pd.DataFrame, truth_file: Path) -> pd.DataFrame:
    """The rows with the generator's true uplift of each exposure."""
    truth = pd.read_parquet(truth_file, columns=["campaign_id", "customer_id", "true_uplift"])
    return frame.merge(truth, on=["campaign_id", "customer_id"], how="left", validate="1:1")


def fit_history(
    warehouse: Path,
    *,
    truth_file: Path | None = None,
    holdout_campaign: str = UPSELL_CAMPAIGNS[-1],
    seed: int = 20261125,
) -> tuple[HistoryRows, UpliftFit]:
    """Choose and calibrate a learner out of fold on the earlier up-sell campaigns (as the task
    does) and measure every learner, the response models and (with a truth file) the oracle
    on the held-out campaign."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = upsell_history_rows(connection)
    frame = rows.frame
    if truth_file is not None:
        frame = with_truth(frame, truth_file)
        rows = HistoryRows(frame, rows.feature_columns, rows.exposures)
    holdout = (frame["campaign_id"] == holdout_campaign).to_numpy()
    fit = fit_uplift(
        frame,
        rows.feature_columns,
        "treatment",
        "outcome",
        holdout,
        seed=seed,
        oracle_column="true_uplift" if truth_file is not None else None,
        groups=frame["customer_id"].to_numpy(),
        strata=frame["campaign_id"].to_numpy(),
    )
    return rows, fit


def describe_history(rows: HistoryRows, fit: UpliftFit) -> list[str]:
    """The figures in lines: rows per campaign and arm, then each scorer's held-out metrics."""
    frame = rows.frame
    counts = frame.groupby(["campaign_id", "treatment"])["outcome"].agg(["size", "sum", "mean"])
    lines = [
        f"{len(frame):,} of {rows.exposures:,} up-sell exposures have the up-sell task's "
        f"features and a complete label; {len(rows.feature_columns)} features"
    ]
    for (campaign, treatment), row in counts.iterrows():
        arm = "treatment" if treatment else "control"
        lines.append(
            f"  {campaign} {arm}: {int(row['size']):,} rows, {int(row['sum'])} upgrades "
            f"({row['mean']:.2%})"
        )
    for name, figures in fit.metrics.items():
        oracle = figures.get("qini_of_oracle", np.nan)
        lines.append(
            f"  {name:46s} Qini {figures['qini']:+.5f} (of oracle {oracle:+.2f}) "
            f"AUUC {figures['auuc']:+.5f} uplift@10% {figures['uplift_at_10']:+.4f} "
            f"@30% {figures['uplift_at_30']:+.4f}"
        )
    if "qini_oracle" in fit.metrics[fit.chosen]:
        lines.append(f"  oracle (true uplift) Qini {fit.metrics[fit.chosen]['qini_oracle']:+.5f}")
    lines.append(f"chosen: {fit.chosen}")
    return lines
