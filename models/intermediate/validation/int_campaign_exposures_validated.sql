{{ validated_rows(ref('stg_raw__campaign_exposures'), [
    {'column': 'customer_id', 'parent': ref('int_customers_validated'), 'parent_key': 'customer_id'},
]) }}
