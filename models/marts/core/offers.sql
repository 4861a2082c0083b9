{{ clean_rows(ref('int_offers_validated')) }}
