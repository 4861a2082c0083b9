{{ clean_rows(ref('int_orders_validated')) }}
