{#- Activity in the 30 and 90 days strictly before each snapshot. Each daily row joins only
    the few snapshots whose 90-day window holds it, so the cost grows with events, not with
    events x snapshots. Only the measures used are carried through the join. -#}
{%- set measures_30d = [
    'purchases_count', 'sessions_count', 'product_clicks_count',
    'page_views_count', 'email_sends_count', 'email_opens_count', 'email_clicks_count',
    'tickets_opened_count', 'tickets_escalated_count',
] -%}
{%- set measures_90d_only = ['tickets_resolved_count', 'resolution_minutes_sum'] %}

with

daily as (
    select * from {{ ref('int_customer_daily_activity') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

windowed as (
    select
        daily.customer_id,
        snapshots.snapshot_date,
        coalesce(
            {{ dbt.datediff('daily.activity_date', 'snapshots.snapshot_date', 'day') }} <= 30,
            false
        ) as is_within_30d,
        {% for measure in measures_30d + measures_90d_only -%}
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
        customer_id,
        snapshot_date,
        {%- for measure in measures_30d %}
        cast(sum(case when is_within_30d then {{ measure }} else 0 end) as bigint)
            as {{ measure }}_30d,
        {%- endfor %}
        cast(sum(purchases_count) as bigint) as purchases_count_90d,
        cast(sum(tickets_escalated_count) as bigint) as tickets_escalated_count_90d,
        cast(sum(tickets_resolved_count) as bigint) as tickets_resolved_count_90d,
        cast(sum(resolution_minutes_sum) as bigint) as resolution_minutes_sum_90d
    from windowed
    group by 1, 2
)

select * from summarised
