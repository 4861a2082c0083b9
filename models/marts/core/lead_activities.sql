{{ clean_rows(ref('int_lead_activities_validated')) }}
