{% macro score_population(task, features_relation, population_relation) -%}
    {#- Scores of a task's registered model for a population (customer_id, snapshot_date):
        the ONNX graph compiled to SQL runs here, in the warehouse. -#}
    {%- set model = registered_model(task) -%}
    {%- if model is none -%}
        {%- if execute -%}
            {{ log("WARNING: no registered model for task " ~ task ~ "; its scores are empty", info=true) }}
        {%- endif -%}
        select
            population.customer_id,
            population.snapshot_date,
            cast(null as double) as score,
            cast(null as varchar) as model_version
        from {{ population_relation }} as population
        where 1 = 0
    {%- else -%}
        {{ check_model_features(model, features_relation) }}
        {%- set scoring_input -%}
            (
                select features.*
                from {{ features_relation }} as features
                inner join {{ population_relation }} as population
                    on features.customer_id = population.customer_id
                    and features.snapshot_date = population.snapshot_date
            )
        {%- endset -%}
        select
            scored.customer_id,
            scored.snapshot_date,
            cast(scored.score as double) as score,
            '{{ model.model_version }}' as model_version
        from (
            {{ model.scoring_sql | replace('__propensity_features__', scoring_input) }}
        ) as scored
    {%- endif -%}
{%- endmacro %}
