{#- Lead activity days bucketed once into the snapshot period they fall in (the days since
    the previous snapshot), for the cumulative roll-up in prospect_feature_snapshots: how
    many activities, and the first and last activity day of the period. -#}
with

daily as (
    select * from {{ ref('int_lead_daily_activity') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

periods as (
    select
        daily.lead_id,
        snapshots.snapshot_date,
        cast(sum(daily.activities_count) as bigint) as activities_count,
        min(daily.activity_date) as first_activity_date,
        max(daily.activity_date) as last_activity_date
    from daily
    inner join snapshots
        on
            daily.activity_date >= snapshots.period_start_date
            and daily.activity_date < snapshots.snapshot_date
    group by 1, 2
)

select * from periods
