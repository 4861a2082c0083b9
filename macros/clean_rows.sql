{% macro clean_rows(validated_relation) -%}
{#- The rows of a validated model that passed every check, without the check columns. -#}
{%- set check_columns = ['row_check_failure', 'quarantine_reason'] -%}
{%- if execute -%}
    {%- set columns = adapter.get_columns_in_relation(validated_relation)
        | map(attribute='name') | reject('in', check_columns) | list -%}
{%- else -%}
    {%- set columns = ['*'] -%}
{%- endif -%}
select
    {%- for column in columns %}
    {{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ validated_relation }}
where quarantine_reason is null
{%- endmacro %}
