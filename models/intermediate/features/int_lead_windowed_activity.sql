{#- Lead activity in the 30 and 90 days strictly before each snapshot, per activity type.
    Each daily row joins only the few snapshots whose 90-day window holds it, so the cost
    grows with the activity days, not with activities x snapshots. -#}
{%- set measures = (lead_activity_types() | map(attribute=1) | list) + ['activities_count'] %}

with

daily as (
    select * from {{ ref('int_lead_daily_activity') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

windowed as (
    select
        daily.lead_id,
        snapshots.snapshot_date,
        coalesce(
            {{ dbt.datediff('daily.activity_date', 'snapshots.snapshot_date', 'day') }} <= 30,
            false
        ) as is_within_30d,
        {% for measure in measures -%}
        daily.{{ measure }},
        {% endfor -%}
        daily.activity_date
    from daily
    inner join snapshots
        on
            daily.activity_date < snapshots.snapshot_date
            and daily.activity_date >= {{ dbt.dateadd('day', -90, 'snapshots.snapshot_date') }}
),

summarised as (
    select
        {%- for measure in measures %}
        cast(sum(case when is_within_30d then {{ measure }} else 0 end) as bigint)
            as {{ measure }}_30d,
        cast(sum({{ measure }}) as bigint) as {{ measure }}_90d,
        {%- endfor %}
        lead_id,
        snapshot_date
    from windowed
    group by lead_id, snapshot_date
)

select * from summarised
