{{ clean_rows(ref('int_order_lines_validated')) }}
