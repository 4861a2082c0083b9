"""Write a campaign's audience, or the CRM's next-best-actions, as a file (CSV or Parquet)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

EXPORT_FORMATS = ("csv", "parquet")

EXPORT_QUERY = """
select
    audiences.customer_id,
    customers.email,
    customers.first_name,
    customers.last_name,
    audiences.campaign_id,
    audiences.snapshot_date,
    audiences.next_best_action,
    audiences.action_channel,
    audiences.recommended_addon_category,
    audiences.recommended_product_id,
    audiences.recommended_product_name,
    audiences.band,
    audiences.decile,
    round(audiences.score, 6) as score,
    round(audiences.expected_value, 2) as expected_value,
    audiences.segment,
    audiences.reason_1,
    audiences.reason_2,
    audiences.reason_3,
    audiences.model_version,
    audiences.experiment_group
from audiences.campaign_audiences as audiences
inner join marts.customers as customers
    on audiences.customer_id = customers.customer_id
where
    audiences.campaign_id = $campaign_id
    and (audiences.experiment_group = 'treatment' or $include_control)
    -- Belt and braces: the audience model already excludes every suppressed customer.
    and not exists (
        select 1
        from audiences.campaign_suppressions as suppressions
        where
            suppressions.campaign_id = audiences.campaign_id
            and suppressions.customer_id = audiences.customer_id
    )
order by audiences.audience_rank
"""


DECISIONS_QUERY = """
select
    decisions.decision_id,
    decisions.customer_id,
    -- only the address of the channel used: the email for an email, the phone for a rep call
    case when decisions.channel = 'email' then customers.email end as email,
    case when decisions.channel = 'sales_rep' then customers.phone end as phone,
    customers.first_name,
    customers.last_name,
    decisions.campaign_id,
    decisions.task,
    decisions.next_best_action,
    decisions.channel,
    decisions.band,
    round(decisions.score, 6) as score,
    round(decisions.expected_profit, 2) as expected_profit,
    decisions.is_incremental_profit,
    -- what the decision was chosen by: the profit of the conversions the contact causes
    round(decisions.expected_incremental_profit, 2) as expected_incremental_profit,
    round(decisions.incremental_share, 4) as incremental_share,
    decisions.incrementality_source,
    decisions.owner_team,
    decisions.due_at,
    decisions.send_date,
    decisions.priority,
    decisions.recommended_addon_category,
    decisions.recommended_product_id,
    decisions.recommended_product_name,
    decisions.reason_1,
    decisions.reason_2,
    decisions.reason_3,
    decisions.snapshot_date,
    decisions.model_version,
    decisions.next_best_action_rule,
    decisions.policy_version
from decisions.next_best_actions as decisions
inner join marts.customers as customers
    on decisions.customer_id = customers.customer_id
inner join decisions.customer_contact_eligibility as eligibility
    on
        decisions.customer_id = eligibility.customer_id
        and decisions.channel = eligibility.channel
where
    ($channel is null or decisions.channel = $channel)
    -- Belt and braces: the decision already passed the policy; never an opted-out or
    -- excluded channel, never a customer the campaign suppresses.
    and not eligibility.is_opted_out
    and not eligibility.is_excluded
    and not exists (
        select 1
        from audiences.campaign_suppressions as suppressions
        where
            suppressions.campaign_id = decisions.campaign_id
            and suppressions.customer_id = decisions.customer_id
    )
order by
    decisions.priority,
    decisions.due_at,
    decisions.expected_incremental_profit desc,
    decisions.customer_id
"""


class ExportError(ValueError):
    """The export cannot be written as asked."""


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    campaign_id: str
    path: Path
    rows: int
    control_rows_left_out: int


def _write(
    connection: duckdb.DuckDBPyConnection, query: str, parameters: dict, file_format: str, out: Path
) -> pa.Table:
    """Run one export query once and write its rows to out; returns the rows written."""
    rows = connection.sql(query, params=parameters).to_arrow_table()
    out.parent.mkdir(parents=True, exist_ok=True)
    if file_format == "csv":
        connection.from_arrow(rows).write_csv(str(out), header=True)
    else:
        connection.from_arrow(rows).write_parquet(str(out))
    return rows


def _check_target(warehouse: Path, file_format: str) -> None:
    """Raise ExportError for an unknown format or a missing warehouse."""
    if file_format not in EXPORT_FORMATS:
        raise ExportError(f"format must be one of {', '.join(EXPORT_FORMATS)}, not {file_format!r}")
    if not warehouse.exists():
        raise ExportError(f"no warehouse at {warehouse}: run `make demo` or `dbt build` first")


def export_campaign(
    warehouse: Path,
    campaign_id: str,
    file_format: str,
    out: Path,
    *,
    include_control: bool = False,
) -> ExportSummary:
    """Write one campaign's audience (treatment group unless include_control) to a file."""
    _check_target(warehouse, file_format)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        campaigns = dict(
            connection.execute(
                "select campaign_id, bool_or(is_active) from config.campaigns group by 1 order by 1"
            ).fetchall()
        )
        active = [campaign for campaign, is_active in campaigns.items() if is_active]
        if not campaigns.get(campaign_id):
            problem = (
                f"campaign {campaign_id!r} is not active (a past campaign: no audience to export)"
                if campaign_id in campaigns
                else f"unknown campaign {campaign_id!r}"
            )
            raise ExportError(f"{problem}; active campaigns: {', '.join(active) or 'none'}")
        parameters = {"campaign_id": campaign_id, "include_control": include_control}
        # Run the query once; the file and the row count come from the same result.
        rows = _write(connection, EXPORT_QUERY, parameters, file_format, out).num_rows
        control = connection.execute(
            "select count(*) from audiences.campaign_audiences "
            "where campaign_id = $campaign_id and experiment_group = 'control'",
            {"campaign_id": campaign_id},
        ).fetchone()
    return ExportSummary(
        campaign_id=campaign_id,
        path=out,
        rows=rows,
        control_rows_left_out=0 if include_control else int(control[0]),
    )


@dataclass(frozen=True)
class DecisionsExportSummary:
    """What a decisions export wrote."""

    path: Path
    rows: int
    rows_per_channel: dict[str, int]


def export_decisions(
    warehouse: Path, file_format: str, out: Path, *, channel: str | None = None
) -> DecisionsExportSummary:
    """Write next_best_actions (one channel's, or all) for the CRM, opted-out channels never."""
    _check_target(warehouse, file_format)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        channels = [
            row[0]
            for row in connection.execute(
                "select channel from config.contact_policy order by 1"
            ).fetchall()
        ]
        if channel is not None and channel not in channels:
            raise ExportError(
                f"unknown channel {channel!r}; contact_policy channels: {', '.join(channels)}"
            )
        rows = _write(connection, DECISIONS_QUERY, {"channel": channel}, file_format, out)
        per_channel = (
            connection.from_arrow(rows).aggregate("channel, count(*)", "channel").order("channel")
        ).fetchall()
    return DecisionsExportSummary(
        path=out,
        rows=rows.num_rows,
        rows_per_channel={str(name): int(count) for name, count in per_channel},
    )
