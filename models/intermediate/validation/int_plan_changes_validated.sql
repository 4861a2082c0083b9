{{ validated_rows(ref('stg_raw__plan_changes'), [
    {'column': 'subscription_id', 'parent': ref('int_subscriptions_validated'), 'parent_key': 'subscription_id'},
]) }}
