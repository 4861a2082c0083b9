{#- Co-ownership affinity of category pairs at every snapshot: among the customers who had
    bought anything strictly before snapshot_date, how many had bought both categories of a
    pair, each, and any (docs block coownership_affinity). Cost grows with the data once:
    each customer's first order per category, and per pair the later of the two, lands in
    one snapshot period; the per-period counts are summed forward over the snapshots. Every
    order placed counts, whatever its status today (see int_order_products_bought). -#}
with

order_products as (
    select * from {{ ref('int_order_products_bought') }}
),

products as (
    select * from {{ ref('products') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

categories as (
    select distinct category
    from products
),

category_pairs as (
    select
        antecedents.category as antecedent_category,
        consequents.category as consequent_category
    from categories as antecedents
    cross join categories as consequents
    where antecedents.category <> consequents.category
),

customer_categories as (
    -- The day each customer first bought each category.
    select
        customer_id,
        category,
        min(ordered_date) as first_ordered_date
    from order_products
    group by customer_id, category
),

customer_first_orders as (
    select
        customer_id,
        min(first_ordered_date) as first_ordered_date
    from customer_categories
    group by customer_id
),

customer_pairs as (
    -- The day each customer came to own both categories of a pair: the later first order.
    select
        antecedents.customer_id,
        antecedents.category as antecedent_category,
        consequents.category as consequent_category,
        greatest(antecedents.first_ordered_date, consequents.first_ordered_date)
            as coowned_date
    from customer_categories as antecedents
    inner join customer_categories as consequents
        on
            antecedents.customer_id = consequents.customer_id
            and antecedents.category <> consequents.category
),

new_customers as (
    -- Buyers counted from the first snapshot after their first order (one period each).
    select
        snapshots.snapshot_date,
        count(*) as customers_count
    from customer_first_orders
    inner join snapshots
        on
            customer_first_orders.first_ordered_date >= snapshots.period_start_date
            and customer_first_orders.first_ordered_date < snapshots.snapshot_date
    group by snapshots.snapshot_date
),

new_category_owners as (
    select
        snapshots.snapshot_date,
        customer_categories.category,
        count(*) as customers_count
    from customer_categories
    inner join snapshots
        on
            customer_categories.first_ordered_date >= snapshots.period_start_date
            and customer_categories.first_ordered_date < snapshots.snapshot_date
    group by snapshots.snapshot_date, customer_categories.category
),

new_pair_owners as (
    select
        snapshots.snapshot_date,
        customer_pairs.antecedent_category,
        customer_pairs.consequent_category,
        count(*) as customers_count
    from customer_pairs
    inner join snapshots
        on
            customer_pairs.coowned_date >= snapshots.period_start_date
            and customer_pairs.coowned_date < snapshots.snapshot_date
    group by
        snapshots.snapshot_date,
        customer_pairs.antecedent_category,
        customer_pairs.consequent_category
),

customers_rolled as (
    select
        snapshots.snapshot_date,
        snapshots.is_as_of_snapshot,
        cast(
            coalesce(
                sum(new_customers.customers_count) over (
                    order by snapshots.snapshot_date
                    rows between unbounded preceding and current row
                ),
                0
            ) as bigint
        ) as customers_count
    from snapshots
    left join new_customers on snapshots.snapshot_date = new_customers.snapshot_date
),

category_owners_rolled as (
    select
        snapshots.snapshot_date,
        categories.category,
        cast(
            coalesce(
                sum(new_category_owners.customers_count) over (
                    partition by categories.category
                    order by snapshots.snapshot_date
                    rows between unbounded preceding and current row
                ),
                0
            ) as bigint
        ) as customers_count
    from snapshots
    cross join categories
    left join new_category_owners
        on
            snapshots.snapshot_date = new_category_owners.snapshot_date
            and categories.category = new_category_owners.category
),

pair_owners_rolled as (
    select
        snapshots.snapshot_date,
        category_pairs.antecedent_category,
        category_pairs.consequent_category,
        cast(
            coalesce(
                sum(new_pair_owners.customers_count) over (
                    partition by
                        category_pairs.antecedent_category,
                        category_pairs.consequent_category
                    order by snapshots.snapshot_date
                    rows between unbounded preceding and current row
                ),
                0
            ) as bigint
        ) as customers_count
    from snapshots
    cross join category_pairs
    left join new_pair_owners
        on
            snapshots.snapshot_date = new_pair_owners.snapshot_date
            and category_pairs.antecedent_category = new_pair_owners.antecedent_category
            and category_pairs.consequent_category = new_pair_owners.consequent_category
),

pairs_counted as (
    select
        pair_owners_rolled.snapshot_date,
        customers_rolled.is_as_of_snapshot,
        pair_owners_rolled.antecedent_category,
        pair_owners_rolled.consequent_category,
        pair_owners_rolled.customers_count as pair_customers_count,
        antecedent_owners.customers_count as antecedent_customers_count,
        consequent_owners.customers_count as consequent_customers_count,
        customers_rolled.customers_count
    from pair_owners_rolled
    inner join customers_rolled
        on pair_owners_rolled.snapshot_date = customers_rolled.snapshot_date
    inner join category_owners_rolled as antecedent_owners
        on
            pair_owners_rolled.snapshot_date = antecedent_owners.snapshot_date
            and pair_owners_rolled.antecedent_category = antecedent_owners.category
    inner join category_owners_rolled as consequent_owners
        on
            pair_owners_rolled.snapshot_date = consequent_owners.snapshot_date
            and pair_owners_rolled.consequent_category = consequent_owners.category
),

pairs_measured as (
    -- Null where a denominator is 0: no buyers yet, or none of the antecedent/consequent.
    select
        snapshot_date,
        is_as_of_snapshot,
        antecedent_category,
        consequent_category,
        pair_customers_count,
        antecedent_customers_count,
        consequent_customers_count,
        customers_count,
        cast(pair_customers_count as double) / nullif(customers_count, 0) as support,
        cast(pair_customers_count as double) / nullif(antecedent_customers_count, 0)
            as confidence,
        -- confidence / support(consequent), written so that lift(a, b) = lift(b, a) exactly
        cast(pair_customers_count as double) * customers_count
        / nullif(cast(antecedent_customers_count as double) * consequent_customers_count, 0)
            as lift
    from pairs_counted
)

select * from pairs_measured
