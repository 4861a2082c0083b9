{{ clean_rows(ref('int_consents_validated')) }}
