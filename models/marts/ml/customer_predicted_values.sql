{#- Every value task's predicted revenue per customer at the as-of snapshot, in one long
    table (task, customer_id, snapshot_date, predicted_value, model_version): what campaigns
    with a value task as value_source multiply their probability by. Empty when no
    regression task is declared. -#}
-- depends_on: {{ ref('model_registry') }}
{%- set value_tasks = tasks_with_objective('regression') %}

with

predicted_values as (
    {%- if value_tasks %}
    select
        regression_scores.task,
        regression_scores.customer_id,
        regression_scores.snapshot_date,
        regression_scores.score as predicted_value,
        regression_scores.model_version
    from ({{ task_scores('regression') }}) as regression_scores
    where regression_scores.customer_id is not null
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as task,
        cast(null as {{ dbt.type_bigint() }}) as customer_id,
        cast(null as date) as snapshot_date,
        cast(null as double) as predicted_value,
        cast(null as {{ dbt.type_string() }}) as model_version
    where 1 = 0
    {%- endif %}
)

select * from predicted_values
