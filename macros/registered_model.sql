{% macro registered_model(task) -%}
    {#- The registry row a task scores with: the version pinned in var model_versions, else
        the promoted one, else the newest. None when the task has no model (for example its
        source is off). -#}
    {%- if not execute -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set registry = ref('model_registry') -%}
    {%- if adapter.get_relation(registry.database, registry.schema, registry.identifier) is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set pinned = var('model_versions', {}).get(task) or promoted_version(task) -%}
    {#- A registry written before explanations were recorded has no explanation columns. -#}
    {%- set columns = adapter.get_columns_in_relation(registry) | map(attribute='name') | map('lower') | list -%}
    {%- set query -%}
        select
            model_version, feature_columns, scoring_sql,
            {{ 'explanation_sql' if 'explanation_sql' in columns else 'null' }},
            {{ 'explanation_bias' if 'explanation_bias' in columns else 'null' }}
        from {{ registry }}
        where task = '{{ task }}'
        {%- if pinned %} and model_version = '{{ pinned }}'{% endif %}
        order by trained_at desc, model_version desc
        limit 1
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- if rows | length == 0 -%}
        {%- if pinned -%}
            {{ exceptions.raise_compiler_error(
                "Task " ~ task ~ " is set to " ~ pinned ~ " (var model_versions, or propensity models"
                ~ " promote), which is not in the model registry") }}
        {%- endif -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return({
        'model_version': rows[0][0],
        'feature_columns': fromjson(rows[0][1]),
        'scoring_sql': rows[0][2],
        'explanation_sql': rows[0][3],
        'explanation_bias': rows[0][4],
    }) -}}
{%- endmacro %}
