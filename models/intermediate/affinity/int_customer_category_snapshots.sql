{#- One row per customer snapshot (customer_feature_snapshots) and catalogue category: what
    the customer had bought of the category strictly before snapshot_date, how many
    categories they owned, and the strongest co-ownership affinity from a category they
    owned to this one. Point in time: every figure uses only orders placed before the
    snapshot (every order placed, whatever its status today), and the co-ownership figures
    are those of the same snapshot.
    Cost: orders land in one snapshot period per customer and category; the running totals
    are taken over those sparse rows (one per customer, category and period with an order),
    each valid until the customer's next order of the category, and joined to the customer
    x snapshot x category rows by that range, with no window over the wide rows. The owned
    categories are a bigint key (one bit per category); the affinity maxima are computed
    once per distinct owned set at a snapshot (at most 2^categories, in practice a few
    hundred), not once per customer. Categories are joined by their bit, not their name. -#}
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
        categories.category_bit,
        snapshots.snapshot_date,
        count(distinct order_products.order_id) as orders_count,
        max(order_products.ordered_date) as last_ordered_date
    from order_products
    inner join categories on order_products.category = categories.category
    inner join snapshots
        on
            order_products.ordered_date >= snapshots.period_start_date
            and order_products.ordered_date < snapshots.snapshot_date
    group by order_products.customer_id, categories.category_bit, snapshots.snapshot_date
),

category_histories as (
    -- Running totals per customer and category from each period with an order, valid for
    -- the snapshots up to (not including) the next such period.
    select
        customer_id,
        category_bit,
        snapshot_date as valid_from_date,
        coalesce(lead(snapshot_date) over category_periods_ordered, cast('9999-12-31' as date))
            as valid_to_date,
        cast(sum(orders_count) over category_to_date as bigint) as category_orders_count,
        max(last_ordered_date) over category_to_date as last_category_ordered_date
    from category_periods
    window
        category_periods_ordered as (
            partition by customer_id, category_bit
            order by snapshot_date
        ),
        category_to_date as (
            partition by customer_id, category_bit
            order by snapshot_date
            rows between unbounded preceding and current row
        )
),

category_ownership_starts as (
    -- The first snapshot at which each customer owns each category.
    select
        customer_id,
        category_bit,
        min(snapshot_date) as owned_from_date
    from category_periods
    group by customer_id, category_bit
),

ownership_changes as (
    select
        customer_id,
        owned_from_date as snapshot_date,
        sum(category_bit) as added_ownership_key,
        count(*) as added_categories_count
    from category_ownership_starts
    group by customer_id, owned_from_date
),

ownership_histories as (
    -- Each customer's owned set from each snapshot where it grows until the next one.
    select
        customer_id,
        snapshot_date as valid_from_date,
        coalesce(lead(snapshot_date) over changes_ordered, cast('9999-12-31' as date))
            as valid_to_date,
        cast(sum(added_ownership_key) over changes_to_date as bigint) as ownership_key,
        cast(sum(added_categories_count) over changes_to_date as bigint)
            as owned_categories_count
    from ownership_changes
    window
        changes_ordered as (
            partition by customer_id
            order by snapshot_date
        ),
        changes_to_date as (
            partition by customer_id
            order by snapshot_date
            rows between unbounded preceding and current row
        )
),

customer_snapshots_keyed as (
    select
        customer_snapshots.customer_id,
        customer_snapshots.snapshot_date,
        coalesce(ownership_histories.ownership_key, 0) as ownership_key,
        coalesce(ownership_histories.owned_categories_count, 0) as owned_categories_count
    from customer_snapshots
    left join ownership_histories
        on
            customer_snapshots.customer_id = ownership_histories.customer_id
            and customer_snapshots.snapshot_date >= ownership_histories.valid_from_date
            and customer_snapshots.snapshot_date < ownership_histories.valid_to_date
),

customer_category_grid as (
    select
        customer_snapshots_keyed.customer_id,
        customer_snapshots_keyed.snapshot_date,
        customer_snapshots_keyed.ownership_key,
        customer_snapshots_keyed.owned_categories_count,
        categories.category,
        categories.category_bit,
        coalesce(category_histories.category_orders_count, 0) as category_orders_count,
        category_histories.last_category_ordered_date
    from customer_snapshots_keyed
    cross join categories
    left join category_histories
        on
            customer_snapshots_keyed.customer_id = category_histories.customer_id
            and categories.category_bit = category_histories.category_bit
            and customer_snapshots_keyed.snapshot_date >= category_histories.valid_from_date
            and customer_snapshots_keyed.snapshot_date < category_histories.valid_to_date
),

ownership_sets as (
    -- Each distinct set of owned categories at each snapshot, one row per member.
    select distinct
        snapshot_date,
        ownership_key,
        category_bit as owned_category_bit
    from customer_category_grid
    where category_orders_count > 0
),

coownership_by_bit as (
    select
        coownership.snapshot_date,
        antecedents.category_bit as antecedent_category_bit,
        consequents.category_bit as consequent_category_bit,
        coownership.lift,
        coownership.confidence
    from coownership
    inner join categories as antecedents
        on coownership.antecedent_category = antecedents.category
    inner join categories as consequents
        on coownership.consequent_category = consequents.category
),

ownership_set_affinity as (
    -- Per set and target category, the strongest co-ownership from a member other than the
    -- target (pairs never pair a category with itself); each maximum on its own.
    select
        ownership_sets.snapshot_date,
        ownership_sets.ownership_key,
        coownership_by_bit.consequent_category_bit,
        max(coownership_by_bit.lift) as max_coownership_lift,
        max(coownership_by_bit.confidence) as max_coownership_confidence
    from ownership_sets
    inner join coownership_by_bit
        on
            ownership_sets.snapshot_date = coownership_by_bit.snapshot_date
            and ownership_sets.owned_category_bit = coownership_by_bit.antecedent_category_bit
    group by
        ownership_sets.snapshot_date,
        ownership_sets.ownership_key,
        coownership_by_bit.consequent_category_bit
),

final as (
    select
        customer_category_grid.customer_id,
        customer_category_grid.snapshot_date,
        customer_category_grid.category as product_category,
        customer_category_grid.category_orders_count > 0 as owns_category,
        customer_category_grid.category_orders_count,
        {{ dbt.datediff(
            'customer_category_grid.last_category_ordered_date',
            'customer_category_grid.snapshot_date',
            'day'
        ) }} as days_since_category_order,
        customer_category_grid.owned_categories_count,
        ownership_set_affinity.max_coownership_lift,
        ownership_set_affinity.max_coownership_confidence
    from customer_category_grid
    left join ownership_set_affinity
        on
            customer_category_grid.snapshot_date = ownership_set_affinity.snapshot_date
            and customer_category_grid.ownership_key = ownership_set_affinity.ownership_key
            and customer_category_grid.category_bit = ownership_set_affinity.consequent_category_bit
)

select * from final
