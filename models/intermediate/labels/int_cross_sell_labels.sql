{#- The cross-sell task's population and label, one row per customer, snapshot and product
    category. Population at a snapshot: customers who have bought something, paired with
    every catalogue category they have not bought yet. Label has_bought_category: an order
    holding a product of the category in [snapshot_date, snapshot_date +
    label_window_days) (any order placed, as ownership counts them). The label is complete
    only when the whole window lies before the as-of date. -#}
{%- set window_days = task_config('cross_sell').label_window_days | int -%}
with

category_snapshots as (
    select * from {{ ref('int_customer_category_snapshots') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

products_bought as (
    select * from {{ ref('int_order_products_bought') }}
),

population as (
    select
        category_snapshots.customer_id,
        category_snapshots.snapshot_date,
        category_snapshots.product_category,
        cast({{ dbt.dateadd('day', window_days, 'category_snapshots.snapshot_date') }} as date)
            as label_window_end_date,
        snapshots.as_of_date
    from category_snapshots
    inner join snapshots on category_snapshots.snapshot_date = snapshots.snapshot_date
    where
        not category_snapshots.owns_category
        and category_snapshots.owned_categories_count > 0
),

purchases_in_window as (
    select
        population.customer_id,
        population.snapshot_date,
        population.product_category,
        min(products_bought.ordered_date) as first_bought_date
    from population
    inner join products_bought
        on
            population.customer_id = products_bought.customer_id
            and population.product_category = products_bought.category
            and population.snapshot_date <= products_bought.ordered_date
            and population.label_window_end_date > products_bought.ordered_date
    group by population.customer_id, population.snapshot_date, population.product_category
),

labelled as (
    select
        population.customer_id,
        population.snapshot_date,
        population.product_category,
        population.label_window_end_date,
        population.label_window_end_date <= population.as_of_date as is_label_complete,
        case
            when population.label_window_end_date <= population.as_of_date
                then purchases_in_window.first_bought_date is not null
        end as has_bought_category,
        case
            when population.label_window_end_date <= population.as_of_date
                then purchases_in_window.first_bought_date
        end as first_bought_date
    from population
    left join purchases_in_window
        on
            population.customer_id = purchases_in_window.customer_id
            and population.snapshot_date = purchases_in_window.snapshot_date
            and population.product_category = purchases_in_window.product_category
)

select * from labelled
