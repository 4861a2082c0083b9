{#- int_customer_category_snapshots holds every customer snapshot x catalogue category (the
    grain test proves each at most once): returns a row when the count differs. -#}
with

customer_category_snapshots as (
    select * from {{ ref('int_customer_category_snapshots') }}
),

customer_snapshots as (
    select * from {{ ref('customer_feature_snapshots') }}
),

products as (
    select * from {{ ref('products') }}
),

customer_snapshots_counted as (
    select count(*) as customer_snapshots_count
    from customer_snapshots
),

categories_counted as (
    select count(distinct category) as categories_count
    from products
),

rows_counted as (
    select count(*) as rows_count
    from customer_category_snapshots
),

compared as (
    select
        customer_snapshots_counted.customer_snapshots_count
        * categories_counted.categories_count as expected_rows_count,
        rows_counted.rows_count as actual_rows_count
    from customer_snapshots_counted
    cross join categories_counted
    cross join rows_counted
)

select * from compared
where expected_rows_count <> actual_rows_count
