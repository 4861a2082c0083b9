"""What one version's model card holds: gathered by report.load_card, drawn by report_html."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from propensity.economics import CampaignProfit
from propensity.truth import TruthGap


@dataclass(frozen=True)
class Population:
    """The as-of scored population of a task (ml.<task>_scores)."""

    rows: int
    snapshot_date: date | None


@dataclass
class ModelCard:
    """Everything one version's page shows."""

    registry: dict[str, Any]
    evaluation: dict
    is_in_use: bool
    predictions: pd.DataFrame | None
    population: Population | None
    campaigns: list[CampaignProfit] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # section -> why it is thin
    drift: pd.DataFrame | None = None
    drift_bins: pd.DataFrame | None = None
    realised: pd.DataFrame | None = None
    truth: TruthGap | None = None

    @property
    def model_version(self) -> str:
        """The version this card describes."""
        return str(self.registry["model_version"])

    @property
    def task(self) -> str:
        """The version's task."""
        return str(self.registry["task"])
