{#- Every raw row that did not reach the clean tables, with the reason and the whole
    record as JSON: nothing is silently dropped. -#}
with

{% for table_name, key_column in raw_tables() %}
quarantined_{{ table_name }} as (
    select
        '{{ table_name }}' as source_table,
        cast(validated.{{ key_column }} as varchar) as record_key,
        validated.quarantine_reason,
        {{ row_as_json('validated') }} as record_json
    from {{ ref('int_' ~ table_name ~ '_validated') }} as validated
    where validated.quarantine_reason is not null
),
{% endfor %}

unioned as (
    {% for table_name, key_column in raw_tables() %}
    select * from quarantined_{{ table_name }}
    {{ 'union all' if not loop.last }}
    {% endfor %}
)

select * from unioned
