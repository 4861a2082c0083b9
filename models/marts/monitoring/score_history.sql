{#- Every build's scores, kept: one row per task, model version, snapshot and scored entity
    (entity_key: the task's key columns as text; customer_id is null for prospect tasks).
    Incremental and never rebuilt (not even by --full-refresh). A build that scores a
    (task, model_version, snapshot_date) again replaces that batch (delete+insert on those
    three columns), so re-running a build adds no duplicates and customers who left the
    population in between do not linger. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['task', 'model_version', 'snapshot_date'],
    full_refresh=false,
    on_schema_change='append_new_columns',
    post_hook="update {{ this }} set entity_key = cast(customer_id as varchar), objective = 'classification' where entity_key is null",
) }}

with

scores as (
    {{ task_scores() }}
),

stamped as (
    select
        cast(task as varchar) as task,
        cast(model_version as varchar) as model_version,
        cast(snapshot_date as date) as snapshot_date,
        cast(customer_id as bigint) as customer_id,
        cast(entity_key as varchar) as entity_key,
        cast(objective as varchar) as objective,
        cast(score as double) as score,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp) as scored_at
    from scores
)

select * from stamped
