{% macro task_scores(objective=none) -%}
    {#- Every task's scores in one relation: task, entity_key (the task's key columns as
        text), customer_id (null for prospect tasks), snapshot_date, objective, score,
        model_version.
        Each task in var tasks has a model <task>_scores. objective keeps only the tasks of
        one objective (classification or regression). -#}
    {%- set selected = var('tasks') | list if objective is none else tasks_with_objective(objective) -%}
    {%- for task in selected %}
    {%- set config = task_config(task) %}
    select
        '{{ task }}' as task,
        {{ entity_key('scores', config.key_columns) }} as entity_key,
        {{ 'scores.customer_id' if config.entity == 'customer' else 'cast(null as ' ~ dbt.type_bigint() ~ ')' }} as customer_id,
        scores.snapshot_date,
        '{{ config.objective }}' as objective,
        scores.score,
        scores.model_version
    from {{ ref(task ~ '_scores') }} as scores
    {{ 'union all' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
