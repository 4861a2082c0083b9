{#- Activity in the 30 and 90 days strictly before each snapshot, and spend in the 3 calendar
    months before it and the 3 months before those. Each daily row joins only the few
    snapshots whose window holds it (90 days; 6 months for the days with an order, a small
    share of the rows), so the cost grows with events, not with events x snapshots. Only
    the measures used are carried through the joins. -#}
{%- set measures_30d = [
    'purchases_count', 'sessions_count', 'product_clicks_count',
    'page_views_count', 'email_sends_count', 'email_opens_count', 'email_clicks_count',
    'tickets_opened_count', 'tickets_escalated_count',
] -%}
{%- set measures_90d = [
    'purchases_count', 'sessions_count', 'product_clicks_count', 'page_views_count',
    'email_clicks_count', 'tickets_escalated_count', 'tickets_resolved_count',
    'resolution_minutes_sum',
] %}

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
        {% for measure in (measures_30d + measures_90d) | unique -%}
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
        {%- for measure in measures_30d %}
        cast(sum(case when is_within_30d then {{ measure }} else 0 end) as bigint)
            as {{ measure }}_30d,
        {%- endfor %}
        {%- for measure in measures_90d %}
        cast(sum({{ measure }}) as bigint) as {{ measure }}_90d,
        {%- endfor %}
        customer_id,
        snapshot_date
    from windowed
    group by customer_id, snapshot_date
),

order_days_windowed as (
    select
        daily.customer_id,
        snapshots.snapshot_date,
        daily.purchases_amount,
        daily.activity_date
        >= {{ dbt.dateadd('month', -3, 'snapshots.snapshot_date') }} as is_within_3m
    from daily
    inner join snapshots
        on
            daily.activity_date < snapshots.snapshot_date
            and daily.activity_date >= {{ dbt.dateadd('month', -6, 'snapshots.snapshot_date') }}
    where daily.purchases_count > 0
),

spend_summarised as (
    select
        customer_id,
        snapshot_date,
        cast(sum(case when is_within_3m then purchases_amount else 0 end) as decimal(18, 4))
            as purchases_amount_3m,
        cast(sum(case when is_within_3m then 0 else purchases_amount end) as decimal(18, 4))
            as purchases_amount_prior_3m
    from order_days_windowed
    group by customer_id, snapshot_date
),

combined as (
    select
        coalesce(summarised.customer_id, spend_summarised.customer_id) as customer_id,
        coalesce(summarised.snapshot_date, spend_summarised.snapshot_date) as snapshot_date,
        {%- for measure in measures_30d %}
        coalesce(summarised.{{ measure }}_30d, 0) as {{ measure }}_30d,
        {%- endfor %}
        {%- for measure in measures_90d %}
        coalesce(summarised.{{ measure }}_90d, 0) as {{ measure }}_90d,
        {%- endfor %}
        coalesce(spend_summarised.purchases_amount_3m, 0) as purchases_amount_3m,
        coalesce(spend_summarised.purchases_amount_prior_3m, 0) as purchases_amount_prior_3m
    from summarised
    full outer join spend_summarised
        on
            summarised.customer_id = spend_summarised.customer_id
            and summarised.snapshot_date = spend_summarised.snapshot_date
)

select * from combined
