{{ clean_rows(ref('int_support_tickets_validated')) }}
