{#- One row per customer and snapshot date: every signal the seeds name, each computed only
    from events strictly before the snapshot date. Cumulative features roll the period
    aggregates forward; window features come from the daily pre-aggregates. -#}
{#- (measure, running aggregate, type): running sums are cast back from the 128-bit types
    sums widen to. -#}
{%- set cumulative_measures = [
    ('purchases_count', 'sum', 'bigint'), ('purchases_amount', 'sum', 'decimal(18, 4)'),
    ('first_ordered_at', 'min', 'timestamp'), ('last_ordered_at', 'max', 'timestamp'),
    ('last_purchase_sequence', 'max', 'bigint'), ('upsell_offers_count', 'sum', 'bigint'),
    ('last_upsell_offer_at', 'max', 'timestamp'),
] %}

with

customers as (
    select * from {{ ref('customers') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

period_activity as (
    select * from {{ ref('int_customer_period_activity') }}
),

windowed_activity as (
    select * from {{ ref('int_customer_windowed_activity') }}
),

subscription_snapshots as (
    select * from {{ ref('int_subscription_snapshots') }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
),

customer_grid as (
    select
        customers.customer_id,
        customers.signed_up_at,
        snapshots.snapshot_date,
        snapshots.is_as_of_snapshot
    from customers
    inner join snapshots
        on customers.signed_up_at < cast(snapshots.snapshot_date as timestamp)
),

rolled as (
    select
        customer_grid.customer_id,
        customer_grid.snapshot_date,
        customer_grid.is_as_of_snapshot,
        {% for measure, aggregate, data_type in cumulative_measures -%}
        cast({{ aggregate }}(period_activity.{{ measure }}) over customer_history as {{ data_type }})
            as cumulative_{{ measure }},
        {% endfor -%}
        customer_grid.signed_up_at
    from customer_grid
    left join period_activity
        on
            customer_grid.customer_id = period_activity.customer_id
            and customer_grid.snapshot_date = period_activity.snapshot_date
    window customer_history as (
        partition by customer_grid.customer_id
        order by customer_grid.snapshot_date
        rows between unbounded preceding and current row
    )
),

measured as (
    select
        rolled.*,
        {{ dbt.datediff('rolled.signed_up_at', 'rolled.snapshot_date', 'day') }} as tenure_days,
        {{ dbt.datediff('rolled.cumulative_last_ordered_at', 'rolled.snapshot_date', 'day') }}
            as days_since_last_order,
        {{ dbt.datediff(
            'rolled.cumulative_first_ordered_at', 'rolled.cumulative_last_ordered_at', 'day'
        ) }} as days_between_first_and_last_order,
        {{ dbt.datediff('rolled.cumulative_last_upsell_offer_at', 'rolled.snapshot_date', 'day') }}
            as days_since_last_upsell_offer
    from rolled
),

features as (
    select
        measured.customer_id,
        measured.snapshot_date,
        measured.is_as_of_snapshot,

        -- tenure and plan
        measured.tenure_days,
        subscription_snapshots.subscription_id,
        subscription_snapshots.plan_code,
        subscription_snapshots.plan_tier_rank,
        coalesce(subscription_snapshots.is_subscription_active, false)
            as is_subscription_active,
        {{ dbt.datediff('subscription_snapshots.plan_started_at', 'measured.snapshot_date', 'day') }}
            as days_on_current_plan,

        -- purchases
        coalesce(measured.cumulative_purchases_count, 0) as orders_count,
        cast(coalesce(measured.cumulative_purchases_amount, 0) as double) as total_spend,
        cast(measured.cumulative_purchases_amount as double)
        / nullif(measured.cumulative_purchases_count, 0) as average_order_value,
        measured.days_since_last_order,
        case
            when measured.days_since_last_order is null then 'never'
            when measured.days_since_last_order <= 7 then '0-7'
            when measured.days_since_last_order <= 30 then '8-30'
            when measured.days_since_last_order <= 90 then '31-90'
            else '90+'
        end as recency_bucket,
        1.0 * measured.days_between_first_and_last_order
        / nullif(measured.cumulative_purchases_count - 1, 0) as average_days_between_orders,
        last_purchase.order_value_momentum_last_3,
        last_purchase.main_category as last_order_category,
        coalesce(windowed_activity.purchases_count_30d, 0) as orders_count_30d,
        coalesce(windowed_activity.purchases_count_90d, 0) as orders_count_90d,

        -- engagement
        coalesce(windowed_activity.sessions_count_30d, 0) as sessions_count_30d,
        coalesce(windowed_activity.page_views_count_30d, 0) as page_views_count_30d,
        coalesce(windowed_activity.product_clicks_count_30d, 0) as product_clicks_count_30d,
        1.0 * windowed_activity.product_clicks_count_30d
        / nullif(windowed_activity.sessions_count_30d, 0) as clicks_per_visit_30d,
        coalesce(windowed_activity.email_sends_count_30d, 0) as email_sends_count_30d,
        coalesce(windowed_activity.email_opens_count_30d, 0) as email_opens_count_30d,
        coalesce(windowed_activity.email_clicks_count_30d, 0) as email_clicks_count_30d,
        1.0 * windowed_activity.email_clicks_count_30d
        / nullif(windowed_activity.email_sends_count_30d, 0) as email_click_rate_30d,

        -- support friction
        coalesce(windowed_activity.tickets_opened_count_30d, 0) as support_tickets_count_30d,
        coalesce(windowed_activity.tickets_escalated_count_90d, 0) > 0 as has_escalation_90d,
        windowed_activity.resolution_minutes_sum_90d / 60.0
        / nullif(windowed_activity.tickets_resolved_count_90d, 0)
            as average_resolution_hours_90d,

        -- offer history
        coalesce(measured.cumulative_upsell_offers_count, 0) as prior_upsell_offers_count,
        measured.days_since_last_upsell_offer
    from measured
    left join windowed_activity
        on
            measured.customer_id = windowed_activity.customer_id
            and measured.snapshot_date = windowed_activity.snapshot_date
    left join subscription_snapshots
        on
            measured.customer_id = subscription_snapshots.customer_id
            and measured.snapshot_date = subscription_snapshots.snapshot_date
    left join orders as last_purchase
        on
            measured.customer_id = last_purchase.customer_id
            and measured.cumulative_last_purchase_sequence = last_purchase.purchase_sequence
)

select * from features
