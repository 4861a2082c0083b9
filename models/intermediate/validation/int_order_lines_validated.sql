{{ validated_rows(ref('stg_raw__order_lines'), [
    {'column': 'order_id', 'parent': ref('int_orders_validated'), 'parent_key': 'order_id'},
    {'column': 'product_id', 'parent': ref('int_products_validated'), 'parent_key': 'product_id'},
]) }}
