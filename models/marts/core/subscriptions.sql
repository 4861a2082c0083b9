{{ clean_rows(ref('int_subscriptions_validated')) }}
