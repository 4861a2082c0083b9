"""The demo: generate data, build everything, export one audience, say what was built."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from propensity.export import ExportSummary, export_campaign
from propensity.generate import GenerationSummary, generate
from propensity.models import metrics_summary
from propensity.pipeline import PROJECT_DIR, run_dbt
from propensity.report import describe_report, write_reports

DEMO_CAMPAIGN = "upsell_upgrade_nov"


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo writes."""

    raw_dir: Path
    warehouse: Path
    export_file: Path
    reports_dir: Path

    @classmethod
    def under(cls, root: Path) -> DemoPaths:
        """The demo's standard layout below a project directory."""
        return cls(
            raw_dir=root / "data" / "raw",
            warehouse=root / "warehouse" / "propensity.duckdb",
            export_file=root / "exports" / f"{DEMO_CAMPAIGN}.csv",
            reports_dir=root / "reports",
        )


def run_demo(customers: int, seed: int, paths: DemoPaths | None = None) -> ExportSummary:
    """Generate demo data, run dbt build (training when no model exists), export an audience,
    write the model report (with the gap to the generator's true probabilities)."""
    paths = paths or DemoPaths.under(PROJECT_DIR)
    if paths.raw_dir.exists():
        shutil.rmtree(paths.raw_dir)
    summary = generate(out_dir=paths.raw_dir, customers=customers, seed=seed)
    print(describe_generation(summary))
    run_dbt(["build"], warehouse=paths.warehouse, raw_dir=paths.raw_dir)
    exported = export_campaign(paths.warehouse, DEMO_CAMPAIGN, "csv", paths.export_file)
    print(describe_warehouse(paths.warehouse))
    print(
        f"\nexported {exported.rows:,} treatment customers of {exported.campaign_id} "
        f"({exported.control_rows_left_out:,} control customers held out) to {exported.path}"
    )
    print("\nmodel reports, one per task (propensity report):")
    for report in write_reports(
        paths.warehouse, paths.reports_dir, truth_file=summary.truth_path.parent, progress=print
    ):
        print(describe_report(report))
    return exported


def describe_generation(summary: GenerationSummary) -> str:
    """One paragraph on what the generator wrote."""
    rows = sum(summary.row_counts.values())
    return (
        f"generated {summary.customers:,} customers (seed {summary.seed}, "
        f"{summary.start_date} to {summary.end_date}): {rows:,} rows in "
        f"{len(summary.row_counts)} tables under {summary.out_dir}; true probabilities in "
        f"{summary.truth_path}; monthly up-sell rate {summary.observed_upsell_rate:.2%}; "
        f"{summary.leads:,} leads ({summary.row_counts.get('leads', 0):,} rows with their "
        f"planted mess, {summary.row_counts.get('lead_activities', 0):,} activities), "
        f"{summary.converted_leads:,} converted, monthly conversion rate of open leads "
        f"{summary.observed_conversion_rate:.2%} (acquisition truth in "
        f"{summary.acquisition_truth_path})\n{describe_history(summary)}"
    )


def describe_history(summary: GenerationSummary) -> str:
    """One line on the campaign history: exposures per campaign and group."""
    campaigns = sorted({campaign for campaign, _ in summary.exposures})
    if not campaigns:
        return "campaign history: none"
    arms = ", ".join(
        f"{campaign} {summary.exposures.get((campaign, 'treatment'), 0):,}/"
        f"{summary.exposures.get((campaign, 'control'), 0):,}"
        for campaign in campaigns
    )
    return (
        f"campaign history (treatment/control): {arms}; uplift truth in {summary.uplift_truth_path}"
    )


def describe_warehouse(warehouse: Path) -> str:
    """A short account of the built warehouse: data quality, model, audiences."""
    lines = [f"\nwarehouse: {warehouse} (open it with DuckDB or any BI tool)"]
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        lines.append("\ndata quality (quarantine.data_quality_summary):")
        for table, raw, clean, quarantined in connection.execute(
            "select source_table, raw_rows, clean_rows, quarantined_rows "
            "from quarantine.data_quality_summary order by source_table"
        ).fetchall():
            lines.append(
                f"  {table:<20} {raw:>10,} raw {clean:>10,} clean {quarantined:>7,} quarantined"
            )
        lines.append("\nmodels (ml.model_registry):")
        for version, family, metrics_json, rows in connection.execute(
            "select model_version, model_family, metrics_json, training_rows "
            "from ml.model_registry order by trained_at"
        ).fetchall():
            metrics = metrics_summary(json.loads(metrics_json or "{}").get("model", {}))
            lines.append(
                f"  {version:<14} {family:<26} validation {metrics}  trained on {rows:,} rows"
            )
        lines.append("\naudiences (audiences.campaign_audiences):")
        for campaign, group, count in connection.execute(
            "select campaign_id, experiment_group, count(*) from audiences.campaign_audiences "
            "group by all order by all"
        ).fetchall():
            lines.append(f"  {campaign:<24} {group:<10} {count:>8,}")
        suppressed = connection.execute(
            "select suppression_reason, count(distinct customer_id) "
            "from audiences.campaign_suppressions group by all order by all"
        ).fetchall()
        lines.append("\nsuppressed (audiences.campaign_suppressions):")
        lines.extend(f"  {reason:<24} {count:>8,} customers" for reason, count in suppressed)
        lines.append("\nincrementality (decisions.campaign_incrementality):")
        for campaign, share, source in connection.execute(
            "select campaign_id, incremental_share, incrementality_source "
            "from decisions.campaign_incrementality order by campaign_id"
        ).fetchall():
            lines.append(f"  {campaign:<24} {share:>8.3f} of conversions caused  ({source})")
        lines.append("\nnext-best-actions (decisions.next_best_actions):")
        for channel, count, profit, teams in connection.execute(
            "select channel, count(*), sum(expected_incremental_profit), "
            "string_agg(distinct owner_team, ', ' order by owner_team) "
            "from decisions.next_best_actions group by channel order by channel"
        ).fetchall():
            lines.append(
                f"  {channel:<24} {count:>8,} customers  incremental profit {profit:>12,.0f}"
                f"  owner: {teams}"
            )
        lines.append("\ncampaign read-outs (experiments.campaign_readouts):")
        for (
            campaign,
            metric,
            treated,
            control,
            lift,
            lower,
            upper,
            p_value,
            verdict,
        ) in connection.execute(
            "select campaign_id, readout_metric, treatment_customers, control_customers, "
            "absolute_lift, absolute_lift_ci_lower, absolute_lift_ci_upper, p_value, verdict "
            "from experiments.campaign_readouts order by campaign_id"
        ).fetchall():
            lines.append(
                f"  {campaign:<24} {metric:<8} {treated:>7,} vs {control:>7,}  "
                f"{_points(lift)} [{_points(lower)}, {_points(upper)}]  p {_p(p_value)}  "
                f"{verdict}"
            )
    return "\n".join(lines)


def _points(rate: float | None) -> str:
    """A difference of rates in percentage points."""
    return "n/a" if rate is None else f"{100 * rate:+.2f} pts"


def _p(p_value: float | None) -> str:
    """A p-value for a summary line."""
    return "n/a" if p_value is None else f"{p_value:.3g}"
