{{ clean_rows(ref('int_leads_validated')) }}
