{#- Every declared task (var tasks) with its defaults filled in (macros/task_config.sql):
    what training reads to know each task's entity, objective, keys, label, model families
    and baselines, and where its labelled rows are. One row per task. -#}

with

declared_tasks as (
    {%- for task in var('tasks') %}
    {%- set config = task_config(task) %}
    select
        '{{ task }}' as task,
        '{{ config.entity }}' as entity,
        '{{ config.objective }}' as objective,
        '{{ tojson(config.key_columns) | replace("'", "''") }}' as key_columns,
        '{{ config.label_column }}' as label_column,
        cast({{ config.label_window_days }} as integer) as label_window_days,
        '{{ config.features_model }}' as features_model,
        '{{ ref(config.features_model).include(database=false) }}' as features_relation,
        '{{ tojson(config.families) | replace("'", "''") }}' as model_families,
        '{{ tojson(config.baselines) | replace("'", "''") }}' as baselines,
        cast({{ config.get('max_training_rows', var('max_training_rows')) }} as bigint)
            as max_training_rows,
        '{{ ref(task ~ "_training_set").include(database=false) }}' as training_set_relation,
        {{ "'" ~ config.base_task ~ "'" if config.get('base_task') else 'cast(null as ' ~ dbt.type_string() ~ ')' }} as base_task,
        {{ "'" ~ config.treatment_column ~ "'" if config.get('treatment_column') else 'cast(null as ' ~ dbt.type_string() ~ ')' }}
            as treatment_column
    {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select * from declared_tasks
