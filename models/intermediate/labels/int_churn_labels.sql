{#- The churn task's population and label. Population at a snapshot: customers with an
    active subscription. Label has_churned: the subscription is cancelled in
    [snapshot_date, snapshot_date + label_window_days), or the customer shows no activity
    (no order, no visit) in [snapshot_date, snapshot_date + inactivity_days); set
    inactivity_days to null for cancellations only. The label is complete only when the
    longer of the two windows lies before the as-of date. -#}
{%- set config = task_config('churn') -%}
{%- set window_days = config.label_window_days | int -%}
{%- set inactivity_days = config.get('inactivity_days') -%}
{%- set horizon_days = [window_days, (inactivity_days or 0) | int] | max -%}
with

features as (
    select * from {{ ref('customer_feature_snapshots') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

subscriptions as (
    select * from {{ ref('subscriptions') }}
),

daily_activity as (
    select * from {{ ref('int_customer_daily_activity') }}
),

population as (
    select
        features.customer_id,
        features.snapshot_date,
        features.subscription_id,
        cast({{ dbt.dateadd('day', window_days, 'features.snapshot_date') }} as date)
            as label_window_end_date,
        cast({{ dbt.dateadd('day', horizon_days, 'features.snapshot_date') }} as date)
            as label_horizon_end_date,
        snapshots.as_of_date
    from features
    inner join snapshots on features.snapshot_date = snapshots.snapshot_date
    where features.is_subscription_active
),

cancellations_in_window as (
    select
        population.customer_id,
        population.snapshot_date,
        min(subscriptions.cancelled_at) as cancelled_at
    from population
    inner join subscriptions
        on
            population.subscription_id = subscriptions.subscription_id
            and subscriptions.cancelled_at >= cast(population.snapshot_date as timestamp)
            and subscriptions.cancelled_at < cast(population.label_window_end_date as timestamp)
    group by population.customer_id, population.snapshot_date
),

{%- if inactivity_days %}

active_days_in_window as (
    select
        population.customer_id,
        population.snapshot_date,
        count(*) as active_days_count
    from population
    inner join daily_activity
        on
            population.customer_id = daily_activity.customer_id
            and population.snapshot_date <= daily_activity.activity_date
            and {{ dbt.dateadd('day', inactivity_days | int, 'population.snapshot_date') }}
            > daily_activity.activity_date
            and (daily_activity.purchases_count > 0 or daily_activity.sessions_count > 0)
    group by population.customer_id, population.snapshot_date
),
{%- endif %}

labelled as (
    select
        population.customer_id,
        population.snapshot_date,
        population.label_horizon_end_date as label_window_end_date,
        population.label_horizon_end_date <= population.as_of_date as is_label_complete,
        case
            when population.label_horizon_end_date <= population.as_of_date
                then
                    cancellations_in_window.cancelled_at is not null
                    {%- if inactivity_days %}
                    or active_days_in_window.active_days_count is null
                    {%- endif %}
        end as has_churned,
        case
            when population.label_horizon_end_date <= population.as_of_date
                then cancellations_in_window.cancelled_at
        end as cancelled_at
    from population
    left join cancellations_in_window
        on
            population.customer_id = cancellations_in_window.customer_id
            and population.snapshot_date = cancellations_in_window.snapshot_date
    {%- if inactivity_days %}
    left join active_days_in_window
        on
            population.customer_id = active_days_in_window.customer_id
            and population.snapshot_date = active_days_in_window.snapshot_date
    {%- endif %}
)

select * from labelled
