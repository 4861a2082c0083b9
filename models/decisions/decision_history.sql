{#- Every build's decisions, kept: next_best_actions stamped with the build time.
    Incremental and never rebuilt (not even by --full-refresh). A build that decides an as-of
    date again replaces that date's rows (delete+insert on snapshot_date), so re-running a
    build adds no duplicates and a customer no longer decided for that date does not linger.
    Columns next_best_actions gains are appended to an existing table (on_schema_change), and
    the contract lists them after built_at so a new table has the same order; rows written
    before a column existed keep null there (expected_incremental_profit, incremental_share
    and incrementality_source of decisions made by gross profit). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['snapshot_date'],
    full_refresh=false,
    on_schema_change='append_new_columns',
) }}

with

decisions as (
    select * from {{ ref('next_best_actions') }}
),

stamped as (
    select
        *,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp) as built_at
    from decisions
)

select * from stamped
