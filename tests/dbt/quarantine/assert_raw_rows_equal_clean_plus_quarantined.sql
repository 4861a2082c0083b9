{#- Nothing lost: for every raw table, the rows that arrived equal the clean rows plus the
    quarantined rows. Raw counts come straight from the sources. Returns the tables that
    do not reconcile. -#}
with

{% for table_name, key_column in raw_tables() %}
counted_{{ table_name }} as (
    select
        '{{ table_name }}' as source_table,
        (select count(*) from {{ raw_source(table_name) }}) as raw_rows,
        (select count(*) from {{ ref(table_name) }}) as clean_rows,
        (
            select count(*)
            from {{ ref('quarantined_rows') }} as quarantined
            where quarantined.source_table = '{{ table_name }}'
        ) as quarantined_rows
),
{% endfor %}

unioned as (
    {% for table_name, key_column in raw_tables() %}
    select * from counted_{{ table_name }}
    {{ 'union all' if not loop.last }}
    {% endfor %}
)

select * from unioned
where raw_rows != clean_rows + quarantined_rows
