{{ clean_rows(ref('int_customers_validated')) }}
