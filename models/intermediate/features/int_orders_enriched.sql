{#- One row per clean order with its net value, its main category, what its items say about
    the buyer (discounted items, units, product tier), its sequence among the customer's
    orders and the value trend over the last 3. Every order counts from the moment it was
    placed, whatever its status: the contract carries no time for a refund or a
    cancellation, so a status read today could be news from after a snapshot. -#}
with

orders as (
    select * from {{ ref('orders') }}
),

order_lines as (
    select * from {{ ref('order_lines') }}
),

products as (
    select * from {{ ref('products') }}
),

lines_with_category as (
    select
        order_lines.order_id,
        order_lines.line_amount,
        order_lines.quantity,
        order_lines.discount_amount,
        order_lines.is_return,
        products.category,
        -- The price tiers in order (the products mart accepts exactly these three).
        case products.price_tier
            when 'entry' then 1
            when 'standard' then 2
            when 'premium' then 3
        end as product_tier_rank
    from order_lines
    inner join products on order_lines.product_id = products.product_id
),

category_ranked as (
    select
        order_id,
        category,
        row_number() over (
            partition by order_id order by sum(line_amount) desc, category
        ) as category_rank
    from lines_with_category
    group by order_id, category
),

order_totals as (
    select
        order_id,
        sum(line_amount) as order_value,
        count(*) as lines_count,
        cast(sum(case when is_return then 1 else 0 end) as bigint) as returned_lines_count,
        -- Items bought (return lines left out): how many, how many at a discount, the
        -- units and the sum of their product tier ranks.
        cast(sum(case when is_return then 0 else 1 end) as bigint) as items_count,
        cast(sum(case when not is_return and discount_amount > 0 then 1 else 0 end) as bigint)
            as discounted_items_count,
        cast(sum(case when is_return then 0 else quantity end) as bigint) as units_count,
        cast(sum(case when is_return then 0 else product_tier_rank end) as bigint)
            as product_tier_rank_sum
    from lines_with_category
    group by order_id
),

orders_valued as (
    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        cast(orders.ordered_at as date) as ordered_date,
        orders.order_status,
        orders.sales_channel,
        coalesce(order_totals.order_value, 0) as order_value,
        coalesce(order_totals.lines_count, 0) as lines_count,
        coalesce(order_totals.returned_lines_count, 0) as returned_lines_count,
        coalesce(order_totals.items_count, 0) as items_count,
        coalesce(order_totals.discounted_items_count, 0) as discounted_items_count,
        coalesce(order_totals.units_count, 0) as units_count,
        coalesce(order_totals.product_tier_rank_sum, 0) as product_tier_rank_sum,
        category_ranked.category as main_category
    from orders
    left join order_totals on orders.order_id = order_totals.order_id
    left join category_ranked
        on
            orders.order_id = category_ranked.order_id
            and category_ranked.category_rank = 1
),

orders_sequenced as (
    select
        *,
        row_number() over customer_orders as purchase_sequence,
        lag(order_value, 2) over customer_orders as order_value_two_before,
        avg(order_value) over (
            customer_orders rows between 2 preceding and current row
        ) as order_value_avg_last_3
    from orders_valued
    window customer_orders as (partition by customer_id order by ordered_at, order_id)
),

final as (
    select
        order_id,
        customer_id,
        ordered_at,
        ordered_date,
        order_status,
        sales_channel,
        order_value,
        lines_count,
        returned_lines_count,
        items_count,
        discounted_items_count,
        units_count,
        product_tier_rank_sum,
        main_category,
        purchase_sequence,
        -- Least-squares slope of the last 3 order values, relative to their mean:
        -- +0.5 means each order is worth about half the average more than the one before.
        case
            when purchase_sequence >= 3
                then
                    (order_value - order_value_two_before)
                    / 2.0 / nullif(order_value_avg_last_3, 0)
        end as order_value_momentum_last_3
    from orders_sequenced
)

select * from final
