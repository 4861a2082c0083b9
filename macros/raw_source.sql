{% macro raw_source(table_name) -%}
    {#- The raw table, or an empty relation with the contract's columns when its source is
        switched off, so that everything downstream builds with fewer features. -#}
    {%- set relation = source('raw', table_name) -%}
    {%- if is_source_enabled(table_name) -%}
        {{ relation }}
    {%- else -%}
        {{ empty_source_relation(table_name) }}
    {%- endif -%}
{%- endmacro %}
