{#- Orders (every order placed; see int_orders_enriched) and offers bucketed once into the snapshot period they fall in (the events
    since the previous snapshot): rolled up cumulatively in the feature snapshots. -#}
with

orders as (
    select * from {{ ref('int_orders_enriched') }}
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
        min(orders.ordered_at) as first_ordered_at,
        max(orders.ordered_at) as last_ordered_at,
        max(orders.purchase_sequence) as last_purchase_sequence,
        0 as upsell_offers_count,
        cast(null as timestamp) as last_upsell_offer_at
    from orders
    inner join snapshots
        on
            orders.ordered_date >= snapshots.period_start_date
            and orders.ordered_date < snapshots.snapshot_date
    group by 1, 2
),

offer_periods as (
    select
        offers.customer_id,
        snapshots.snapshot_date,
        0 as purchases_count,
        0 as purchases_amount,
        cast(null as timestamp) as first_ordered_at,
        cast(null as timestamp) as last_ordered_at,
        cast(null as bigint) as last_purchase_sequence,
        count(*) as upsell_offers_count,
        max(offers.shown_at) as last_upsell_offer_at
    from offers
    inner join snapshots
        on
            cast(offers.shown_at as date) >= snapshots.period_start_date
            and cast(offers.shown_at as date) < snapshots.snapshot_date
    where offers.offer_type = 'upsell'
    group by 1, 2
),

unioned as (
    select * from purchase_periods
    union all
    select * from offer_periods
),

periods as (
    select
        customer_id,
        snapshot_date,
        cast(sum(purchases_count) as bigint) as purchases_count,
        cast(sum(purchases_amount) as decimal(18, 4)) as purchases_amount,
        min(first_ordered_at) as first_ordered_at,
        max(last_ordered_at) as last_ordered_at,
        max(last_purchase_sequence) as last_purchase_sequence,
        cast(sum(upsell_offers_count) as bigint) as upsell_offers_count,
        max(last_upsell_offer_at) as last_upsell_offer_at
    from unioned
    group by 1, 2
)

select * from periods
