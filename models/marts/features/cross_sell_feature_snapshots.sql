{#- The cross-sell task's features, one row per customer, snapshot and product category:
    the customer's point-in-time features beside the category's (ownership, co-ownership
    affinity from what the customer owns, and how many buyers own the category). A view:
    training and scoring read only their populations' rows. -#}
{{ config(materialized='view') }}

with

customer_features as (
    select * from {{ ref('customer_feature_snapshots') }}
),

category_snapshots as (
    select * from {{ ref('int_customer_category_snapshots') }}
),

category_reach as (
    -- share of the customers who had bought anything who had bought the category
    select
        snapshot_date,
        product_category,
        avg(case when owns_category then 1.0 else 0.0 end) as category_buyers_share
    from category_snapshots
    where owned_categories_count > 0
    group by snapshot_date, product_category
),

features as (
    select
        customer_features.*,
        category_snapshots.product_category,
        category_snapshots.owns_category,
        category_snapshots.owned_categories_count,
        category_snapshots.max_coownership_lift,
        category_snapshots.max_coownership_confidence,
        category_reach.category_buyers_share
    from category_snapshots
    inner join customer_features
        on
            category_snapshots.customer_id = customer_features.customer_id
            and category_snapshots.snapshot_date = customer_features.snapshot_date
    left join category_reach
        on
            category_snapshots.snapshot_date = category_reach.snapshot_date
            and category_snapshots.product_category = category_reach.product_category
)

select * from features
