{#- The next best product per customer at the as-of snapshot, from the cross-sell model and
    product affinity. The category is the one the customer does not own yet with the highest
    cross-sell probability (the model reads co-ownership affinity among its features); the
    product within it is the one bought most often with a product the customer already
    bought (highest basket lift over product_pair_affinity; then confidence), or, with no
    affinity pair, the category's most bought product. Never a category, so never a
    product, the customer owns. -#}
with

scores as (
    select * from {{ ref('cross_sell_scores') }}
),

product_affinity as (
    select * from {{ ref('product_pair_affinity') }}
),

products as (
    select * from {{ ref('products') }}
),

products_bought as (
    select * from {{ ref('int_order_products_bought') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
    where is_as_of_snapshot
),

best_category as (
    select
        customer_id,
        snapshot_date,
        product_category,
        score,
        model_version,
        row_number() over (
            partition by customer_id, snapshot_date
            order by score desc, product_category asc
        ) as category_rank
    from scores
),

top_category as (
    select * from best_category
    where category_rank = 1
),

customer_products as (
    select distinct
        products_bought.customer_id,
        products_bought.product_id
    from products_bought
    cross join snapshots
    where products_bought.ordered_date < snapshots.as_of_date
),

product_popularity as (
    select
        products_bought.product_id,
        count(distinct products_bought.order_id) as orders_count
    from products_bought
    cross join snapshots
    where products_bought.ordered_date < snapshots.as_of_date
    group by products_bought.product_id
),

product_candidates as (
    select
        top_category.customer_id,
        products.product_id,
        products.product_name,
        products.list_price,
        max(product_affinity.lift) as best_lift,
        max(product_affinity.confidence) as best_confidence,
        coalesce(max(product_popularity.orders_count), 0) as orders_count
    from top_category
    inner join products on top_category.product_category = products.category
    left join customer_products
        on top_category.customer_id = customer_products.customer_id
    left join product_affinity
        on
            customer_products.product_id = product_affinity.antecedent_product_id
            and products.product_id = product_affinity.consequent_product_id
    left join product_popularity on products.product_id = product_popularity.product_id
    group by
        top_category.customer_id,
        products.product_id,
        products.product_name,
        products.list_price
),

product_ranked as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by
                coalesce(best_lift, 0) desc,
                coalesce(best_confidence, 0) desc,
                orders_count desc,
                product_id asc
        ) as product_rank
    from product_candidates
),

final as (
    select
        top_category.customer_id,
        top_category.snapshot_date,
        top_category.model_version,
        top_category.score,
        cast(top_category.customer_id as {{ dbt.type_string() }})
        || '|' || top_category.product_category as entity_key,
        top_category.product_category as recommended_category,
        product_ranked.product_id as recommended_product_id,
        product_ranked.product_name as recommended_product_name,
        product_ranked.list_price as item_value,
        product_ranked.best_lift as recommended_product_lift,
        case
            when product_ranked.best_lift is not null then 'basket_affinity'
            else 'category_best_seller'
        end as product_choice
    from top_category
    inner join product_ranked
        on
            top_category.customer_id = product_ranked.customer_id
            and product_ranked.product_rank = 1
)

select * from final
