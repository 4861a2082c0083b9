{{ clean_rows(ref('int_email_events_validated')) }}
