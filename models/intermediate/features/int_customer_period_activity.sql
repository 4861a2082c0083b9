{#- Orders (every order placed; see int_orders_enriched), offers, offer responses and the
    daily engagement pre-aggregates bucketed once into the snapshot period they fall in (the
    events since the previous snapshot): rolled up cumulatively in the feature snapshots.
    Each event or daily row lands in exactly one period, so the cost grows with the events
    once. An offer counts when shown; its acceptance only from the day it was answered. -#}
{%- set measures = [
    ('purchases_count', 'bigint'), ('purchases_amount', 'decimal(18, 4)'),
    ('sales_rep_purchases_count', 'bigint'), ('items_count', 'bigint'),
    ('discounted_items_count', 'bigint'), ('units_count', 'bigint'),
    ('product_tier_rank_sum', 'bigint'), ('sessions_count', 'bigint'),
    ('page_views_count', 'bigint'), ('product_clicks_count', 'bigint'),
    ('email_sends_count', 'bigint'), ('email_opens_count', 'bigint'),
    ('email_clicks_count', 'bigint'), ('offers_count', 'bigint'),
    ('offers_accepted_count', 'bigint'), ('upsell_offers_count', 'bigint'),
] %}
{%- set purchase_measures = [
    'purchases_count', 'purchases_amount', 'sales_rep_purchases_count', 'items_count',
    'discounted_items_count', 'units_count', 'product_tier_rank_sum',
] %}
{%- set engagement_measures = [
    'sessions_count', 'page_views_count', 'product_clicks_count', 'email_sends_count',
    'email_opens_count', 'email_clicks_count',
] %}
{%- set offer_measures = ['offers_count', 'offers_accepted_count', 'upsell_offers_count'] %}

with

orders as (
    select * from {{ ref('int_orders_enriched') }}
),

daily_activity as (
    select * from {{ ref('int_customer_daily_activity') }}
),

offers as (
    select * from {{ ref('offers') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

purchase_periods as (
    select
        orders.customer_id,
        snapshots.snapshot_date,
        count(*) as purchases_count,
        sum(orders.order_value) as purchases_amount,
        sum(case when orders.sales_channel = 'sales_rep' then 1 else 0 end)
            as sales_rep_purchases_count,
        sum(orders.items_count) as items_count,
        sum(orders.discounted_items_count) as discounted_items_count,
        sum(orders.units_count) as units_count,
        sum(orders.product_tier_rank_sum) as product_tier_rank_sum,
        {% for measure in engagement_measures + offer_measures -%}
        0 as {{ measure }},
        {% endfor -%}
        min(orders.ordered_at) as first_ordered_at,
        max(orders.ordered_at) as last_ordered_at,
        max(orders.purchase_sequence) as last_purchase_sequence,
        cast(null as timestamp) as last_upsell_offer_at
    from orders
    inner join snapshots
        on
            orders.ordered_date >= snapshots.period_start_date
            and orders.ordered_date < snapshots.snapshot_date
    group by 1, 2
),

engagement_periods as (
    -- From the daily pre-aggregates: each customer day lands in one period.
    select
        daily_activity.customer_id,
        snapshots.snapshot_date,
        {% for measure in purchase_measures -%}
        0 as {{ measure }},
        {% endfor -%}
        {% for measure in engagement_measures -%}
        sum(daily_activity.{{ measure }}) as {{ measure }},
        {% endfor -%}
        {% for measure in offer_measures -%}
        0 as {{ measure }},
        {% endfor -%}
        cast(null as timestamp) as first_ordered_at,
        cast(null as timestamp) as last_ordered_at,
        cast(null as bigint) as last_purchase_sequence,
        cast(null as timestamp) as last_upsell_offer_at
    from daily_activity
    inner join snapshots
        on
            daily_activity.activity_date >= snapshots.period_start_date
            and daily_activity.activity_date < snapshots.snapshot_date
    where
        daily_activity.sessions_count > 0
        or daily_activity.email_sends_count > 0
        or daily_activity.email_opens_count > 0
        or daily_activity.email_clicks_count > 0
    group by 1, 2
),

offer_periods as (
    select
        offers.customer_id,
        snapshots.snapshot_date,
        {% for measure in purchase_measures + engagement_measures -%}
        0 as {{ measure }},
        {% endfor -%}
        count(*) as offers_count,
        0 as offers_accepted_count,
        sum(case when offers.offer_type = 'upsell' then 1 else 0 end) as upsell_offers_count,
        cast(null as timestamp) as first_ordered_at,
        cast(null as timestamp) as last_ordered_at,
        cast(null as bigint) as last_purchase_sequence,
        max(case when offers.offer_type = 'upsell' then offers.shown_at end)
            as last_upsell_offer_at
    from offers
    inner join snapshots
        on
            cast(offers.shown_at as date) >= snapshots.period_start_date
            and cast(offers.shown_at as date) < snapshots.snapshot_date
    group by 1, 2
),

acceptance_periods as (
    -- An acceptance is news on the day of the answer, not the day the offer was shown.
    select
        offers.customer_id,
        snapshots.snapshot_date,
        {% for measure in purchase_measures + engagement_measures -%}
        0 as {{ measure }},
        {% endfor -%}
        0 as offers_count,
        count(*) as offers_accepted_count,
        0 as upsell_offers_count,
        cast(null as timestamp) as first_ordered_at,
        cast(null as timestamp) as last_ordered_at,
        cast(null as bigint) as last_purchase_sequence,
        cast(null as timestamp) as last_upsell_offer_at
    from offers
    inner join snapshots
        on
            cast(offers.responded_at as date) >= snapshots.period_start_date
            and cast(offers.responded_at as date) < snapshots.snapshot_date
    where offers.response = 'accepted'
    group by 1, 2
),

unioned as (
    select * from purchase_periods
    union all
    select * from engagement_periods
    union all
    select * from offer_periods
    union all
    select * from acceptance_periods
),

periods as (
    select
        customer_id,
        snapshot_date,
        {% for measure, data_type in measures -%}
        cast(sum({{ measure }}) as {{ data_type }}) as {{ measure }},
        {% endfor -%}
        min(first_ordered_at) as first_ordered_at,
        max(last_ordered_at) as last_ordered_at,
        max(last_purchase_sequence) as last_purchase_sequence,
        max(last_upsell_offer_at) as last_upsell_offer_at
    from unioned
    group by 1, 2
)

select * from periods
