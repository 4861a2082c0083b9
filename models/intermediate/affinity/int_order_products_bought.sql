{#- One row per order and product it bought, with the order's buyer, date and status and the
    product's category: the input of every affinity model. Return lines (negative quantity)
    are left out; the line that bought the product still counts, and a product on several
    lines of an order counts once. Every order is kept whatever its status: the basket marts
    read the completed ones, the point-in-time models every order placed, because the
    contract has no time for a refund or a cancellation (see int_orders_enriched). -#}
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

products_bought as (
    select distinct
        order_id,
        product_id
    from order_lines
    where quantity > 0
),

final as (
    select
        products_bought.order_id,
        products_bought.product_id,
        orders.customer_id,
        cast(orders.ordered_at as date) as ordered_date,
        orders.order_status = 'completed' as is_completed,
        products.category
    from products_bought
    inner join orders on products_bought.order_id = orders.order_id
    inner join products on products_bought.product_id = products.product_id
)

select * from final
