{% macro score_population(task, features_relation, population_relation) -%}
    {#- Scores of a task's registered model for a population (the task's key columns and
        snapshot_date): the ONNX graph compiled to SQL runs here, in the warehouse. -#}
    {%- set keys = task_keys(task) -%}
    {%- set model = registered_model(task) -%}
    {%- if model is none -%}
        {%- if execute -%}
            {{ log("WARNING: no registered model for task " ~ task ~ "; its scores are empty", info=true) }}
        {%- endif -%}
        select
            {%- for column in keys %}
            population.{{ column }},
            {%- endfor %}
            cast(null as double) as score,
            cast(null as {{ dbt.type_string() }}) as model_version
        from {{ population_relation }} as population
        where 1 = 0
    {%- else -%}
        {{ check_model_features(model, features_relation) }}
        {%- set scoring_input -%}
            (
                select features.*
                from {{ features_relation }} as features
                inner join {{ population_relation }} as population
                    on {{ join_on_columns('features', 'population', keys) }}
            )
        {%- endset -%}
        select
            {%- for column in keys %}
            scored.{{ column }},
            {%- endfor %}
            cast(scored.score as double) as score,
            '{{ model.model_version }}' as model_version
        from (
            {{ model.scoring_sql | replace('__propensity_features__', scoring_input) }}
        ) as scored
    {%- endif -%}
{%- endmacro %}
