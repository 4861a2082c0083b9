{% macro empty_source_relation(table_name) -%}
    {%- if not execute -%}
        {#- Parsing: the graph is not loaded yet and nothing runs. -#}
        {{- return('(select 1 as placeholder where 1 = 0)') -}}
    {%- endif -%}
    {%- set node = graph.sources.values() | selectattr('source_name', 'equalto', 'raw')
        | selectattr('name', 'equalto', table_name) | first -%}
    (
        select
        {%- for column in node.columns.values() %}
            cast(null as {{ column.data_type }}) as {{ column.name }}{{ ',' if not loop.last }}
        {%- endfor %}
        where 1 = 0
    )
{%- endmacro %}
