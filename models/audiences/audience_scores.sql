{#- What each customer task offers the campaigns: one row per task and customer at the as-of
    snapshot, with the task's objective (classification: a probability; uplift: a predicted
    uplift, may be negative), the score, the model version and, for a task that recommends an item, the
    item. A task keyed by the customer alone takes its scores as they are; a task with more
    keys (cross-sell: customer x category) declares an audience_model that picks one row per
    customer (next_best_products). Prospect tasks have their own audiences. -#}
-- depends_on: {{ ref('model_registry') }}

with
{% for task in audience_tasks() %}
{%- set config = task_config(task) %}
{{ task }}_rows as (
    {%- if config.get('audience_model') %}
    select
        '{{ task }}' as task,
        '{{ config.objective }}' as objective,
        decided.customer_id,
        decided.snapshot_date,
        decided.model_version,
        decided.score,
        decided.entity_key,
        decided.recommended_category,
        decided.recommended_product_id,
        decided.recommended_product_name,
        decided.item_value
    from {{ ref(config.audience_model) }} as decided
    {%- elif config.key_columns == ['customer_id'] %}
    select
        '{{ task }}' as task,
        '{{ config.objective }}' as objective,
        scores.customer_id,
        scores.snapshot_date,
        scores.model_version,
        scores.score,
        cast(scores.customer_id as {{ dbt.type_string() }}) as entity_key,
        cast(null as {{ dbt.type_string() }}) as recommended_category,
        cast(null as {{ dbt.type_bigint() }}) as recommended_product_id,
        cast(null as {{ dbt.type_string() }}) as recommended_product_name,
        cast(null as double) as item_value
    from {{ ref(task ~ '_scores') }} as scores
    {%- else %}
    {{ exceptions.raise_compiler_error(
        "var tasks: " ~ task ~ " has keys " ~ config.key_columns | join(', ')
        ~ " and no audience_model to pick one row per customer") }}
    {%- endif %}
),
{% endfor %}
audience_scores as (
    {%- for task in audience_tasks() %}
    select * from {{ task }}_rows
    {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select * from audience_scores
