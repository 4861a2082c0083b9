{#- The acquisition task's population and label. Population at a snapshot: the open leads,
    created before it and not converted before it (the rows of prospect_feature_snapshots).
    Label: the lead converts (leads.converted_at) in
    [snapshot_date, snapshot_date + tasks.acquisition.label_window_days). The label is complete
    only when the whole window lies before the as-of date. -#}
{%- set window_days = task_config('acquisition').label_window_days | int -%}
with

leads as (
    select * from {{ ref('leads') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

population as (
    select
        leads.lead_id,
        snapshots.snapshot_date,
        leads.converted_at,
        cast({{ dbt.dateadd('day', window_days, 'snapshots.snapshot_date') }} as date)
            as label_window_end_date,
        snapshots.as_of_date
    from leads
    inner join snapshots
        on
            leads.created_at < cast(snapshots.snapshot_date as timestamp)
            and (
                leads.converted_at is null
                or leads.converted_at >= cast(snapshots.snapshot_date as timestamp)
            )
),

labelled as (
    select
        lead_id,
        snapshot_date,
        label_window_end_date,
        label_window_end_date <= as_of_date as is_label_complete,
        case
            when label_window_end_date <= as_of_date
                then coalesce(
                    converted_at < cast(label_window_end_date as timestamp), false
                )
        end as has_converted,
        case
            when
                label_window_end_date <= as_of_date
                and converted_at < cast(label_window_end_date as timestamp)
                then converted_at
        end as converted_at
    from population
)

select * from labelled
