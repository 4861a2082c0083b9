{#- The top reasons behind every task's scores: for each scored row, the (up to) 3
    features pushing the score up the most, in a marketer's words. Computed in SQL from the
    registered model's explanation; no Python runs here. Rows of every task share one
    shape: entity_key (the task's key columns as text) and customer_id (null for prospect
    tasks). -#}
-- depends_on: {{ ref('model_registry') }}

with

{% for task in monitored_tasks() -%}
{%- set config = task_config(task) -%}
{{ task }}_scores as (
    select * from {{ ref(task ~ '_scores') }}
),

{{ task }}_reasons as (
    {{ score_reasons(task, ref(config.features_model), task ~ '_scores', ref('task_features')) }}
),

{% endfor -%}
reasons_of_every_task as (
    {%- for task in monitored_tasks() %}
    {%- set config = task_config(task) %}
    select
        '{{ task }}' as task,
        {{ entity_key(task ~ '_reasons', config.key_columns) }} as entity_key,
        {{ task ~ '_reasons.customer_id' if config.entity == 'customer' else 'cast(null as ' ~ dbt.type_bigint() ~ ')' }} as customer_id,
        {{ task }}_reasons.snapshot_date,
        {{ task }}_reasons.model_version,
        {{ task }}_reasons.reason_rank,
        {{ task }}_reasons.feature_name,
        {{ task }}_reasons.feature_value,
        {{ task }}_reasons.contribution,
        {{ task }}_reasons.reason
    from {{ task }}_reasons
    {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select * from reasons_of_every_task
