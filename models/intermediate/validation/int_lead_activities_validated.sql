{{ validated_rows(ref('stg_raw__lead_activities'), [
    {'column': 'lead_id', 'parent': ref('int_leads_validated'), 'parent_key': 'lead_id'},
]) }}
