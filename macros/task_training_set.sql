{% macro task_training_set(task) -%}
    {#- A task's labelled rows: the task's features at each snapshot with the label of the
        window after it, for the task's population and only where the whole window is
        observed. Customer tasks bring their segments at the snapshot along, for the
        per-segment evaluation. -#}
    {%- set config = task_config(task) -%}
    {%- set keys = task_keys(task) -%}
    with

    features as (
        select * from {{ ref(config.features_model) }}
    ),

    labels as (
        select * from {{ ref(config.label_model) }}
        where is_label_complete
    ),
    {%- if config.entity == 'customer' %}

    segments as (
        select * from {{ ref('customer_segments') }}
    ),
    {%- endif %}

    training_rows as (
        select
            features.*,
            {%- if config.entity == 'customer' %}
            segments.lifecycle_segment,
            segments.is_high_value,
            segments.is_engagement_driven,
            {%- endif %}
            labels.label_window_end_date,
            labels.{{ config.label_column }}
        from features
        inner join labels
            on {{ join_on_columns('features', 'labels', keys) }}
        {%- if config.entity == 'customer' %}
        inner join segments
            on {{ join_on_columns('features', 'segments', ['customer_id', 'snapshot_date']) }}
        {%- endif %}
    )

    select * from training_rows
{%- endmacro %}
