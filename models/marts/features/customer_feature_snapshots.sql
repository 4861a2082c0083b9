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
    ('sales_rep_purchases_count', 'sum', 'bigint'), ('items_count', 'sum', 'bigint'),
    ('discounted_items_count', 'sum', 'bigint'), ('units_count', 'sum', 'bigint'),
    ('product_tier_rank_sum', 'sum', 'bigint'), ('page_views_count', 'sum', 'bigint'),
    ('product_clicks_count', 'sum', 'bigint'), ('email_sends_count', 'sum', 'bigint'),
    ('email_opens_count', 'sum', 'bigint'), ('email_clicks_count', 'sum', 'bigint'),
    ('offers_count', 'sum', 'bigint'), ('offers_accepted_count', 'sum', 'bigint'),
] %}
{#- Smoothed rates: (events + prior_weight x prior_rate) / (trials + prior_weight), as if every
    customer came with prior_weight more trials at a typical rate (the demo's overall rate,
    rounded). A customer with few trials reads close to the typical rate rather than 0% or
    100%; one with many, close to their own; one with none has no rate (null). The prior is
    a constant, not everyone's rate at the snapshot: that moves a little from snapshot to
    snapshot and would move every customer with little history with it, which reads as
    drift. (name, events, trials, prior_rate, prior_weight, window): events and trials are
    measures of int_customer_period_activity (window 'to_date': everything before the
    snapshot) or of int_customer_windowed_activity (window '90d'). -#}
{%- set smoothed_rates = [
    ('product_click_rate', 'product_clicks_count', 'page_views_count', 0.15, 20, 'to_date'),
    ('email_open_rate', 'email_opens_count', 'email_sends_count', 0.25, 5, 'to_date'),
    ('email_click_to_open_rate', 'email_clicks_count', 'email_opens_count', 0.25, 3, 'to_date'),
    ('discounted_items_share', 'discounted_items_count', 'items_count', 0.15, 5, 'to_date'),
    ('average_product_tier_rank', 'product_tier_rank_sum', 'items_count', 2, 3, 'to_date'),
    ('sales_rep_orders_share', 'sales_rep_purchases_count', 'purchases_count', 0.08, 5, 'to_date'),
    ('offer_acceptance_rate', 'offers_accepted_count', 'offers_count', 0.1, 2, 'to_date'),
    ('product_click_rate_90d', 'product_clicks_count_90d', 'page_views_count_90d', 0.15, 20, '90d'),
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
        {{ dbt.datediff(
            'subscription_snapshots.subscription_started_at', 'measured.snapshot_date', 'day'
        ) }} as subscription_tenure_days,
        subscription_snapshots.initial_plan_tier_rank,
        coalesce(subscription_snapshots.upgrades_count, 0) as upgrades_count,

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
        cast(coalesce(windowed_activity.purchases_amount_3m, 0) as double) as spend_3m,
        cast(coalesce(windowed_activity.purchases_amount_prior_3m, 0) as double)
            as spend_prior_3m,
        -- Relative change, damped by 50 on both sides so that a first small order does not
        -- read as a huge rise; returns can make a period's spend negative, read as 0.
        (greatest(cast(coalesce(windowed_activity.purchases_amount_3m, 0) as double), 0) + 50)
        / (
            greatest(cast(coalesce(windowed_activity.purchases_amount_prior_3m, 0) as double), 0)
            + 50
        )
        - 1 as spend_trend_3m,
        1.0 * measured.cumulative_units_count / nullif(measured.cumulative_items_count, 0)
            as average_units_per_item,

        -- engagement
        coalesce(windowed_activity.sessions_count_30d, 0) as sessions_count_30d,
        coalesce(windowed_activity.page_views_count_30d, 0) as page_views_count_30d,
        coalesce(windowed_activity.product_clicks_count_30d, 0) as product_clicks_count_30d,
        1.0 * windowed_activity.product_clicks_count_30d
        / nullif(windowed_activity.sessions_count_30d, 0) as clicks_per_visit_30d,
        coalesce(windowed_activity.sessions_count_90d, 0) as sessions_count_90d,
        coalesce(windowed_activity.page_views_count_90d, 0) as page_views_count_90d,
        coalesce(windowed_activity.product_clicks_count_90d, 0) as product_clicks_count_90d,
        1.0 * windowed_activity.product_clicks_count_90d
        / nullif(windowed_activity.sessions_count_90d, 0) as clicks_per_visit_90d,
        coalesce(windowed_activity.email_sends_count_30d, 0) as email_sends_count_30d,
        coalesce(windowed_activity.email_opens_count_30d, 0) as email_opens_count_30d,
        coalesce(windowed_activity.email_clicks_count_30d, 0) as email_clicks_count_30d,
        1.0 * windowed_activity.email_clicks_count_30d
        / nullif(windowed_activity.email_sends_count_30d, 0) as email_click_rate_30d,
        coalesce(windowed_activity.email_clicks_count_90d, 0) as email_clicks_count_90d,

        -- support friction
        coalesce(windowed_activity.tickets_opened_count_30d, 0) as support_tickets_count_30d,
        coalesce(windowed_activity.tickets_escalated_count_30d, 0)
            as support_escalations_count_30d,
        coalesce(windowed_activity.tickets_escalated_count_90d, 0) > 0 as has_escalation_90d,
        windowed_activity.resolution_minutes_sum_90d / 60.0
        / nullif(windowed_activity.tickets_resolved_count_90d, 0)
            as average_resolution_hours_90d,

        -- smoothed rates (see smoothed_rates above)
        {% for name, events, trials, prior_rate, prior_weight, window in smoothed_rates -%}
        {%- set source = 'measured.cumulative_' if window == 'to_date' else 'windowed_activity.' %}
        case
            when {{ source }}{{ trials }} > 0
                then
                    (coalesce({{ source }}{{ events }}, 0) + {{ (prior_rate * prior_weight) | round(4) }})
                    / ({{ source }}{{ trials }} + {{ prior_weight }})
        end as {{ name }},
        {% endfor %}
        -- offer history
        coalesce(measured.cumulative_upsell_offers_count, 0) as prior_upsell_offers_count,
        measured.days_since_last_upsell_offer,
        coalesce(measured.days_since_last_upsell_offer <= 30, false) as has_upsell_offer_30d

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
