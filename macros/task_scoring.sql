{% macro task_scoring(task) -%}
    {#- A task's scores for its whole population at the as-of snapshot, computed in SQL from
        the registered model. No Python runs here. -#}
    {%- set config = task_config(task) -%}
    {%- set keys = task_keys(task) -%}
    with

    snapshots as (
        select * from {{ ref('int_snapshot_dates') }}
    ),

    labels as (
        select * from {{ ref(config.label_model) }}
    ),

    population as (
        select {{ qualified_columns('labels', keys) }}
        from labels
        inner join snapshots on labels.snapshot_date = snapshots.snapshot_date
        where snapshots.is_as_of_snapshot
    ),

    scored as (
        {{ score_population(task, ref(config.features_model), 'population') }}
    )

    select * from scored
{%- endmacro %}
