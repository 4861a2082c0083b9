{{ validated_rows(ref('stg_raw__products')) }}
