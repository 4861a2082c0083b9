{#- Every build's scores, kept: one row per task, model version, snapshot and customer.
    Incremental and never rebuilt (not even by --full-refresh). A build that scores a
    (task, model_version, snapshot_date) again replaces that batch (delete+insert on those
    three columns), so re-running a build adds no duplicates and customers who left the
    population in between do not linger. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['task', 'model_version', 'snapshot_date'],
    full_refresh=false,
    on_schema_change='fail',
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
        cast(score as double) as score,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp) as scored_at
    from scores
)

select * from stamped
