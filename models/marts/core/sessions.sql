{{ clean_rows(ref('int_sessions_validated')) }}
