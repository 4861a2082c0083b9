{{ clean_rows(ref('int_products_validated')) }}
