"""Write a campaign's audience as the list a marketer uploads (CSV or Parquet)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

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


class ExportError(ValueError):
    """The export cannot be written as asked."""


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    campaign_id: str
    path: Path
    rows: int
    control_rows_left_out: int


def export_campaign(
    warehouse: Path,
    campaign_id: str,
    file_format: str,
    out: Path,
    *,
    include_control: bool = False,
) -> ExportSummary:
    """Write one campaign's audience (treatment group unless include_control) to a file."""
    if file_format not in EXPORT_FORMATS:
        raise ExportError(f"format must be one of {', '.join(EXPORT_FORMATS)}, not {file_format!r}")
    if not warehouse.exists():
        raise ExportError(f"no warehouse at {warehouse}: run `make demo` or `dbt build` first")
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
        audience = connection.sql(EXPORT_QUERY, params=parameters).to_arrow_table()
        out.parent.mkdir(parents=True, exist_ok=True)
        if file_format == "csv":
            connection.from_arrow(audience).write_csv(str(out), header=True)
        else:
            connection.from_arrow(audience).write_parquet(str(out))
        control = connection.execute(
            "select count(*) from audiences.campaign_audiences "
            "where campaign_id = $campaign_id and experiment_group = 'control'",
            {"campaign_id": campaign_id},
        ).fetchone()
    return ExportSummary(
        campaign_id=campaign_id,
        path=out,
        rows=audience.num_rows,
        control_rows_left_out=0 if include_control else int(control[0]),
    )
