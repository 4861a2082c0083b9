{{ validated_rows(ref('stg_raw__leads')) }}
