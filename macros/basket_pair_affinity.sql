{% macro basket_pair_affinity(order_items, snapshots, item_column) -%}
{#- Basket affinity of every ordered pair of distinct items (antecedent, consequent): a
    basket is one completed order placed before the as-of date, holding each item once.
    Counts the baskets with both, with each and in all, and from them support, confidence
    and lift (docs block basket_affinity); keeps the pairs that reach the vars
    affinity_min_pair_baskets and affinity_min_support. Columns are named
    antecedent_<item_column> and consequent_<item_column>. -#}
with

order_items as (
    select * from {{ order_items }}
),

snapshots as (
    select * from {{ snapshots }}
),

as_of as (
    select as_of_date from snapshots
    where is_as_of_snapshot
),

baskets as (
    select distinct
        order_items.order_id,
        order_items.{{ item_column }} as item
    from order_items
    inner join as_of on order_items.ordered_date < as_of.as_of_date
    where order_items.is_completed
),

baskets_total as (
    select count(distinct order_id) as baskets_count
    from baskets
),

item_baskets as (
    select
        item,
        count(*) as baskets_count
    from baskets
    group by item
),

pair_baskets as (
    select
        antecedents.item as antecedent,
        consequents.item as consequent,
        count(*) as pair_baskets_count
    from baskets as antecedents
    inner join baskets as consequents
        on
            antecedents.order_id = consequents.order_id
            and antecedents.item <> consequents.item
    group by antecedents.item, consequents.item
),

pairs_counted as (
    select
        pair_baskets.antecedent,
        pair_baskets.consequent,
        pair_baskets.pair_baskets_count,
        antecedent_baskets.baskets_count as antecedent_baskets_count,
        consequent_baskets.baskets_count as consequent_baskets_count,
        baskets_total.baskets_count
    from pair_baskets
    inner join item_baskets as antecedent_baskets
        on pair_baskets.antecedent = antecedent_baskets.item
    inner join item_baskets as consequent_baskets
        on pair_baskets.consequent = consequent_baskets.item
    cross join baskets_total
),

pairs_measured as (
    select
        antecedent,
        consequent,
        pair_baskets_count,
        antecedent_baskets_count,
        consequent_baskets_count,
        baskets_count,
        cast(pair_baskets_count as double) / baskets_count as support,
        cast(pair_baskets_count as double) / antecedent_baskets_count as confidence,
        -- confidence / support(consequent), written so that lift(a, b) = lift(b, a) exactly
        cast(pair_baskets_count as double) * baskets_count
        / (cast(antecedent_baskets_count as double) * consequent_baskets_count) as lift
    from pairs_counted
),

final as (
    select
        pairs_measured.antecedent as antecedent_{{ item_column }},
        pairs_measured.consequent as consequent_{{ item_column }},
        pairs_measured.pair_baskets_count,
        pairs_measured.antecedent_baskets_count,
        pairs_measured.consequent_baskets_count,
        pairs_measured.baskets_count,
        pairs_measured.support,
        pairs_measured.confidence,
        pairs_measured.lift,
        as_of.as_of_date
    from pairs_measured
    cross join as_of
    where
        pairs_measured.pair_baskets_count >= {{ var('affinity_min_pair_baskets') }}
        and pairs_measured.support >= {{ var('affinity_min_support') }}
)

select * from final
{%- endmacro %}
