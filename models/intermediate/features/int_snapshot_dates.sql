{#- The snapshot dates: the as-of date (the newest snapshot, the one that is scored) and
    every snapshot_interval_months before it, back snapshot_history_months. Each snapshot
    owns the period of events since the previous one (the first owns all earlier history),
    which is how features are pre-aggregated once and then rolled. -#}
with

orders as (
    select * from {{ ref('orders') }}
),

as_of as (
    {%- if var('as_of_date') %}
    select cast('{{ var("as_of_date") }}' as date) as as_of_date
    {%- else %}
    select
        cast({{ dbt.dateadd('month', 1, dbt.date_trunc('month', 'max(ordered_at)')) }} as date)
            as as_of_date
    from orders
    {%- endif %}
),

digits as (
    {% for digit in range(10) -%}
    select {{ digit }} as digit
    {{ 'union all' if not loop.last }}
    {% endfor %}
),

steps as (
    select tens.digit * 10 + units.digit as step
    from digits as tens
    cross join digits as units
    where
        tens.digit * 10 + units.digit
        <= {{ var('snapshot_history_months') // var('snapshot_interval_months') }}
),

snapshot_dates as (
    select
        cast(
            {{ dbt.dateadd('month', '-1 * steps.step * ' ~ var('snapshot_interval_months'), 'as_of.as_of_date') }}
            as date
        ) as snapshot_date,
        steps.step = 0 as is_as_of_snapshot,
        as_of.as_of_date
    from steps
    cross join as_of
),

with_periods as (
    select
        snapshot_date,
        coalesce(
            lag(snapshot_date) over (order by snapshot_date),
            cast('1900-01-01' as date)
        ) as period_start_date,
        is_as_of_snapshot,
        as_of_date
    from snapshot_dates
)

select * from with_periods
