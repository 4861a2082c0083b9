{#- category_coownership_affinity holds every snapshot x ordered pair of distinct catalogue
    categories (the grain test proves each at most once): returns a row when the count
    differs. -#}
with

coownership as (
    select * from {{ ref('category_coownership_affinity') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

products as (
    select * from {{ ref('products') }}
),

snapshots_counted as (
    select count(*) as snapshots_count
    from snapshots
),

categories_counted as (
    select count(distinct category) as categories_count
    from products
),

rows_counted as (
    select count(*) as rows_count
    from coownership
),

compared as (
    select
        snapshots_counted.snapshots_count
        * categories_counted.categories_count
        * (categories_counted.categories_count - 1) as expected_rows_count,
        rows_counted.rows_count as actual_rows_count
    from snapshots_counted
    cross join categories_counted
    cross join rows_counted
)

select * from compared
where expected_rows_count <> actual_rows_count
