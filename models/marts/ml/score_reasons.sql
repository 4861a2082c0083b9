{#- The top reasons behind every task's scores: for each scored customer, the (up to) 3
    features pushing the score up the most, in a marketer's words. Computed in SQL from the
    registered model's explanation; no Python runs here. -#}
-- depends_on: {{ ref('model_registry') }}

with

{% for task in var('tasks') -%}
{{ task }}_scores as (
    select * from {{ ref(task ~ '_scores') }}
),

{{ task }}_reasons as (
    {{ score_reasons(task, ref('customer_feature_snapshots'), task ~ '_scores', ref('task_features')) }}
),

{% endfor -%}
reasons_of_every_task as (
    {%- for task in var('tasks') %}
    select
        '{{ task }}' as task,
        {{ task }}_reasons.*
    from {{ task }}_reasons
    {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select * from reasons_of_every_task
