{#- Basket affinity of category pairs: one row per ordered pair of distinct categories bought
    together in enough completed orders before the as-of date; two products of one category
    in a basket count once (docs block basket_affinity). -#}
{{ basket_pair_affinity(ref('int_order_products_bought'), ref('int_snapshot_dates'), 'category') }}
