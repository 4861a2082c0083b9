{#- Basket affinity of product pairs: one row per ordered pair of distinct products bought
    together in enough completed orders before the as-of date (docs block basket_affinity). -#}
{{ basket_pair_affinity(ref('int_order_products_bought'), ref('int_snapshot_dates'), 'product_id') }}
