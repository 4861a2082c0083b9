{#- Per raw table: rows that arrived, rows that passed, rows quarantined (and why). -#}
with

{% for table_name, key_column in raw_tables() %}
counts_{{ table_name }} as (
    select
        '{{ table_name }}' as source_table,
        count(*) as raw_rows,
        count(case when quarantine_reason is null then 1 end) as clean_rows,
        count(case when quarantine_reason is not null then 1 end) as quarantined_rows
    from {{ ref('int_' ~ table_name ~ '_validated') }}
),
{% endfor %}

unioned as (
    {% for table_name, key_column in raw_tables() %}
    select * from counts_{{ table_name }}
    {{ 'union all' if not loop.last }}
    {% endfor %}
)

select * from unioned
