{% macro task_scores() -%}
    {#- Every task's scores in one relation: customer_id, snapshot_date, score,
        model_version, task. Each task in var tasks has a model <task>_scores. -#}
    {%- for task in var('tasks') %}
    select
        customer_id,
        snapshot_date,
        score,
        model_version,
        '{{ task }}' as task
    from {{ ref(task ~ '_scores') }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
