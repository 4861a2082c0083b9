{#- The up-sell task's population and label. Population at a snapshot: an active
    subscription on a plan below the top tier. Label: the customer moves to a higher tier
    in [snapshot_date, snapshot_date + label_window_days). The label is complete only when
    the whole window lies before the as-of date. -#}
{%- set window_days = var('tasks')['upsell']['label_window_days'] -%}
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

plan_changes as (
    select * from {{ ref('plan_changes') }}
),

plan_tiers as (
    select * from {{ ref('plan_tiers') }}
),

top_tier as (
    select max(tier_rank) as top_tier_rank from plan_tiers
),

population as (
    select
        features.customer_id,
        features.snapshot_date,
        features.plan_tier_rank,
        cast({{ dbt.dateadd('day', window_days, 'features.snapshot_date') }} as date)
            as label_window_end_date,
        snapshots.as_of_date
    from features
    inner join snapshots on features.snapshot_date = snapshots.snapshot_date
    cross join top_tier
    where
        features.is_subscription_active
        and features.plan_tier_rank < top_tier.top_tier_rank
),

upgrades as (
    {{ plan_upgrades('plan_changes', 'subscriptions', 'plan_tiers') }}
),

upgrades_in_window as (
    select
        population.customer_id,
        population.snapshot_date,
        min(upgrades.changed_at) as first_upgraded_at
    from population
    inner join upgrades
        on
            population.customer_id = upgrades.customer_id
            and upgrades.changed_at >= cast(population.snapshot_date as timestamp)
            and upgrades.changed_at < cast(population.label_window_end_date as timestamp)
    group by 1, 2
),

labelled as (
    select
        population.customer_id,
        population.snapshot_date,
        population.label_window_end_date,
        population.label_window_end_date <= population.as_of_date as is_label_complete,
        case
            when population.label_window_end_date <= population.as_of_date
                then upgrades_in_window.first_upgraded_at is not null
        end as has_upgraded,
        case
            when population.label_window_end_date <= population.as_of_date
                then upgrades_in_window.first_upgraded_at
        end as first_upgraded_at
    from population
    left join upgrades_in_window
        on
            population.customer_id = upgrades_in_window.customer_id
            and population.snapshot_date = upgrades_in_window.snapshot_date
)

select * from labelled
