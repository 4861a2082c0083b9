{#- One row per campaign exposure (core campaign_exposures: who was assigned to which
    campaign's treatment or control group) with its outcomes in the read-out window
    [snapshot_date, snapshot_date + readout_window_days) of the campaign (seed campaigns),
    measured from the clean marts: an upgrade (a plan change to a higher tier, the up-sell
    label's rule), a subscription cancellation, completed orders and their net value, a
    refunded order. Outcomes are null until the window has closed before the as-of date
    (is_outcome_complete), as labels are. has_converted is the campaign's readout_metric. -#}
with

exposures as (
    select * from {{ ref('campaign_exposures') }}
),

campaigns as (
    select * from {{ ref('campaigns') }}
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

orders as (
    select * from {{ ref('int_orders_enriched') }}
),

as_of as (
    select max(as_of_date) as as_of_date from snapshots
),

upgrades as (
    {{ plan_upgrades('plan_changes', 'subscriptions', 'plan_tiers') }}
),

exposure_windows as (
    select
        exposures.campaign_exposure_id,
        exposures.campaign_id,
        exposures.customer_id,
        exposures.experiment_group,
        exposures.is_treatment,
        exposures.snapshot_date,
        campaigns.readout_metric,
        campaigns.readout_window_days,
        cast(exposures.snapshot_date as timestamp) as window_start_at,
        cast(
            {{ dbt.dateadd('day', 'campaigns.readout_window_days', 'exposures.snapshot_date') }}
            as date
        ) as outcome_window_end_date,
        as_of.as_of_date
    from exposures
    left join campaigns on exposures.campaign_id = campaigns.campaign_id
    cross join as_of
),

events as (
    select
        customer_id,
        changed_at as event_at,
        1 as upgrades_count,
        0 as cancellations_count,
        0 as orders_count,
        0.0 as revenue,
        0 as refunds_count
    from upgrades
    union all
    select
        customer_id,
        cancelled_at as event_at,
        0 as upgrades_count,
        1 as cancellations_count,
        0 as orders_count,
        0.0 as revenue,
        0 as refunds_count
    from subscriptions
    where cancelled_at is not null
    union all
    select
        customer_id,
        ordered_at as event_at,
        0 as upgrades_count,
        0 as cancellations_count,
        case when order_status = 'completed' then 1 else 0 end as orders_count,
        case when order_status = 'completed' then order_value else 0.0 end as revenue,
        case when order_status = 'refunded' then 1 else 0 end as refunds_count
    from orders
),

events_in_window as (
    select
        exposure_windows.campaign_exposure_id,
        sum(events.upgrades_count) as upgrades_count,
        sum(events.cancellations_count) as cancellations_count,
        sum(events.orders_count) as orders_count,
        sum(events.revenue) as revenue,
        sum(events.refunds_count) as refunds_count
    from exposure_windows
    inner join events
        on
            exposure_windows.customer_id = events.customer_id
            and exposure_windows.window_start_at <= events.event_at
            and cast(exposure_windows.outcome_window_end_date as timestamp) > events.event_at
    group by exposure_windows.campaign_exposure_id
),

outcomes as (
    select
        exposure_windows.campaign_exposure_id,
        exposure_windows.campaign_id,
        exposure_windows.customer_id,
        exposure_windows.experiment_group,
        exposure_windows.is_treatment,
        exposure_windows.snapshot_date,
        exposure_windows.readout_metric,
        exposure_windows.readout_window_days,
        exposure_windows.outcome_window_end_date,
        coalesce(exposure_windows.outcome_window_end_date <= exposure_windows.as_of_date, false)
            as is_outcome_complete,
        coalesce(events_in_window.upgrades_count, 0) > 0 as has_upgraded,
        coalesce(events_in_window.cancellations_count, 0) > 0 as has_churned,
        coalesce(events_in_window.orders_count, 0) > 0 as has_ordered,
        coalesce(events_in_window.orders_count, 0) as orders_count,
        coalesce(events_in_window.revenue, 0) as revenue,
        coalesce(events_in_window.refunds_count, 0) > 0 as has_refund
    from exposure_windows
    left join events_in_window
        on exposure_windows.campaign_exposure_id = events_in_window.campaign_exposure_id
),

final as (
    select
        campaign_exposure_id,
        campaign_id,
        customer_id,
        experiment_group,
        is_treatment,
        snapshot_date,
        readout_metric,
        readout_window_days,
        outcome_window_end_date,
        is_outcome_complete,
        case when is_outcome_complete then has_upgraded end as has_upgraded,
        case when is_outcome_complete then has_churned end as has_churned,
        case when is_outcome_complete then has_ordered end as has_ordered,
        case when is_outcome_complete then cast(orders_count as bigint) end as orders_count,
        case when is_outcome_complete then cast(revenue as double) end as revenue,
        case when is_outcome_complete then has_refund end as has_refund,
        case
            when not is_outcome_complete then null
            when readout_metric = 'upgrade' then has_upgraded
            when readout_metric = 'churn' then has_churned
            when readout_metric = 'order' then has_ordered
        end as has_converted
    from outcomes
)

select * from final
