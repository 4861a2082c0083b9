{{ validated_rows(ref('stg_raw__customers')) }}
