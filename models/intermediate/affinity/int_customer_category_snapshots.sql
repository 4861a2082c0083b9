{#- One row per customer snapshot (customer_feature_snapshots) and catalogue category: what
    the customer had bought of the category strictly before snapshot_date, how many
    categories they owned, and the strongest co-ownership affinity from a category they
    owned to this one. Point in time: every figure uses only orders placed before the
    snapshot (every order placed, whatever its status today), and the co-ownership figures
    are those of the same snapshot. Cost: orders land in one snapshot period per customer and
    category and are rolled forward over the customer x snapshot x category rows; the
    affinity maxima are computed once per distinct set of owned categories at a snapshot
    (at most 2^categories, in practice a few hundred), not once per customer. -#}
with

customer_snapshots as (
    select * from {{ ref('customer_feature_snapshots') }}
),

order_products as (
    select * from {{ ref('int_order_products_bought') }}
),

products as (
    select * from {{ ref('products') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

coownership as (
    select * from {{ ref('category_coownership_affinity') }}
),

catalogue_categories as (
    select distinct category
    from products
),

categories as (
    -- Each category's own bit: the bits of the categories a customer owns sum to a key of
    -- the set (a bigint holds 63 categories; more fail the cast loudly).
    select
        category,
        cast(power(2, row_number() over (order by category) - 1) as bigint) as category_bit
    from catalogue_categories
),

category_periods as (
    -- Orders of each category per customer and snapshot period: each order lands in one.
    select
        order_products.customer_id,
        order_products.category,
        snapshots.snapshot_date,
        count(distinct order_products.order_id) as orders_count,
        max(order_products.ordered_date) as last_ordered_date
    from order_products
    inner join snapshots
        on
            order_products.ordered_date >= snapshots.period_start_date
            and order_products.ordered_date < snapshots.snapshot_date
    group by order_products.customer_id, order_products.category, snapshots.snapshot_date
),

customer_category_grid as (
    select
        customer_snapshots.customer_id,
        customer_snapshots.snapshot_date,
        categories.category,
        categories.category_bit
    from customer_snapshots
    cross join categories
),

rolled as (
    select
        customer_category_grid.customer_id,
        customer_category_grid.snapshot_date,
        customer_category_grid.category,
        customer_category_grid.category_bit,
        cast(coalesce(sum(category_periods.orders_count) over category_history, 0) as bigint)
            as category_orders_count,
        max(category_periods.last_ordered_date) over category_history
            as last_category_ordered_date
    from customer_category_grid
    left join category_periods
        on
            customer_category_grid.customer_id = category_periods.customer_id
            and customer_category_grid.category = category_periods.category
            and customer_category_grid.snapshot_date = category_periods.snapshot_date
    window category_history as (
        partition by customer_category_grid.customer_id, customer_category_grid.category
        order by customer_category_grid.snapshot_date
        rows between unbounded preceding and current row
    )
),

owned as (
    select
        customer_id,
        snapshot_date,
        category,
        category_bit,
        category_orders_count,
        category_orders_count > 0 as owns_category,
        {{ dbt.datediff('last_category_ordered_date', 'snapshot_date', 'day') }}
            as days_since_category_order
    from rolled
),

ownership_keyed as (
    select
        owned.*,
        cast(
            sum(case when owned.owns_category then owned.category_bit else 0 end)
                over customer_snapshot
            as bigint
        ) as ownership_key,
        cast(sum(case when owned.owns_category then 1 else 0 end) over customer_snapshot as bigint)
            as owned_categories_count
    from owned
    window customer_snapshot as (partition by owned.customer_id, owned.snapshot_date)
),

ownership_sets as (
    -- Each distinct set of owned categories at each snapshot, one row per member.
    select distinct
        snapshot_date,
        ownership_key,
        category as owned_category
    from ownership_keyed
    where owns_category
),

ownership_set_affinity as (
    -- Per set and target category, the strongest co-ownership from a member other than the
    -- target (pairs never pair a category with itself); each maximum on its own.
    select
        ownership_sets.snapshot_date,
        ownership_sets.ownership_key,
        coownership.consequent_category,
        max(coownership.lift) as max_coownership_lift,
        max(coownership.confidence) as max_coownership_confidence
    from ownership_sets
    inner join coownership
        on
            ownership_sets.snapshot_date = coownership.snapshot_date
            and ownership_sets.owned_category = coownership.antecedent_category
    group by
        ownership_sets.snapshot_date,
        ownership_sets.ownership_key,
        coownership.consequent_category
),

final as (
    select
        ownership_keyed.customer_id,
        ownership_keyed.snapshot_date,
        ownership_keyed.category as product_category,
        ownership_keyed.owns_category,
        ownership_keyed.category_orders_count,
        ownership_keyed.days_since_category_order,
        ownership_keyed.owned_categories_count,
        ownership_set_affinity.max_coownership_lift,
        ownership_set_affinity.max_coownership_confidence
    from ownership_keyed
    left join ownership_set_affinity
        on
            ownership_keyed.snapshot_date = ownership_set_affinity.snapshot_date
            and ownership_keyed.ownership_key = ownership_set_affinity.ownership_key
            and ownership_keyed.category = ownership_set_affinity.consequent_category
)

select * from final
