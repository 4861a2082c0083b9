{% macro promoted_version(task) -%}
    {#- The version `propensity models promote/rollback` last put in use for a task, from the
        ml.model_promotions log the CLI keeps; none when nothing was ever promoted. -#}
    {%- set promotions = adapter.get_relation(target.database, 'ml', 'model_promotions') -%}
    {%- if promotions is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set query -%}
        select model_version from {{ promotions }}
        where task = '{{ task }}'
        order by acted_at desc, promotion_id desc
        limit 1
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {{- return(rows[0][0] if rows | length else none) -}}
{%- endmacro %}
