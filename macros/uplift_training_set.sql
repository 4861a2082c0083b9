{% macro uplift_training_set(task) -%}
    {#- An uplift task's experiment rows: every exposure of the campaigns (seed campaigns)
        whose task is the uplift task's base task, joined to the base task's labelled rows
        (task_training_set: features at the exposure's snapshot and a complete label). An
        exposure whose label window is not over yet, or whose customer is outside the base
        task's population at that snapshot, has no row. -#}
    {%- set config = task_config(task) -%}
    with

    campaigns as (
        select * from {{ ref('campaigns') }}
        where task = '{{ config.base_task }}'
    ),

    exposures as (
        select * from {{ ref('campaign_exposures') }}
    ),

    labelled_rows as (
        select * from {{ ref(config.base_task ~ '_training_set') }}
    ),

    experiment_rows as (
        select
            exposures.campaign_exposure_id,
            exposures.campaign_id,
            exposures.{{ config.treatment_column }},
            labelled_rows.*
        from exposures
        inner join campaigns
            on exposures.campaign_id = campaigns.campaign_id
        inner join labelled_rows
            on {{ join_on_columns('exposures', 'labelled_rows', ['customer_id', 'snapshot_date']) }}
    )

    select * from experiment_rows
{%- endmacro %}
