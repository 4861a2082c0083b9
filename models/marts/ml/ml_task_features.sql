{#- The features each task's model uses: the task_features seed, less the features whose
    optional source is switched off. Training reads this list; scoring checks it. -#}
with

task_features as (
    select * from {{ ref('task_features') }}
),

enabled as (
    select
        task,
        feature_name,
        source_switch,
        reason_template,
        row_number() over (partition by task order by feature_name) as feature_position
    from task_features
    where
        source_switch is null
        or source_switch in ('{{ enabled_source_switches() | join("', '") }}')
)

select * from enabled
