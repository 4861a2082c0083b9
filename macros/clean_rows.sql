{% macro clean_rows(validated_relation) -%}
{#- The rows of a validated model that passed every check, without the check columns. -#}
{%- set check_columns = ['row_check_failure', 'quarantine_reason'] -%}
{%- set columns = [] -%}
{%- if execute -%}
    {%- set columns = adapter.get_columns_in_relation(validated_relation)
        | map(attribute='name') | reject('in', check_columns) | list -%}
{%- endif -%}
{%- if not columns -%}
    {#- Parsing, or linting before the validated view exists. -#}
    {%- set columns = ['*'] -%}
{%- endif -%}
select
    {%- for column in columns %}
    {{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ validated_relation }}
where quarantine_reason is null
{%- endmacro %}
