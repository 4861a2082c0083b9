{% macro row_as_json(relation_alias) -%}
    {{ return(adapter.dispatch('row_as_json', 'propensity')(relation_alias)) }}
{%- endmacro %}

{#- The whole row as JSON text, so a quarantined record keeps every value it arrived with. -#}

{% macro duckdb__row_as_json(relation_alias) -%}
    cast(to_json({{ relation_alias }}) as varchar)
{%- endmacro %}

{% macro postgres__row_as_json(relation_alias) -%}
    row_to_json({{ relation_alias }})::text
{%- endmacro %}

{% macro default__row_as_json(relation_alias) -%}
    to_json(struct({{ relation_alias }}.*))
{%- endmacro %}
