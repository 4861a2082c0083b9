{% macro promoted_version(task) -%}
    {#- The version `propensity models promote/rollback` last put in use for a task, from the
        ml.model_promotions log the CLI keeps; none when nothing was ever promoted. -#}
    {%- set promotions = adapter.get_relation(target.database, 'ml', 'model_promotions') -%}
    {%- if promotions is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set query -%}
        select model_version from {{ promotions }}
        where task = '{{ task }}'
        order by acted_at desc, promotion_id desc
        limit 1
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {{- return(rows[0][0] if rows | length else none) -}}
{%- endmacro %}

{% macro registered_model(task) -%}
    {#- The registry row a task scores with: the version pinned in var model_versions, else
        the promoted one, else the newest. None when the task has no model (for example its
        source is off). -#}
    {%- if not execute -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set registry = ref('model_registry') -%}
    {%- if adapter.get_relation(registry.database, registry.schema, registry.identifier) is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set pinned = var('model_versions', {}).get(task) or promoted_version(task) -%}
    {%- set query -%}
        select model_version, feature_columns, scoring_sql
        from {{ registry }}
        where task = '{{ task }}'
        {%- if pinned %} and model_version = '{{ pinned }}'{% endif %}
        order by trained_at desc, model_version desc
        limit 1
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- if rows | length == 0 -%}
        {%- if pinned -%}
            {{ exceptions.raise_compiler_error(
                "Task " ~ task ~ " is set to " ~ pinned ~ " (var model_versions, or propensity models"
                ~ " promote), which is not in the model registry") }}
        {%- endif -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return({
        'model_version': rows[0][0],
        'feature_columns': fromjson(rows[0][1]),
        'scoring_sql': rows[0][2],
    }) -}}
{%- endmacro %}

{% macro check_model_features(model, features_relation) -%}
    {#- Fail with the names of the columns a model needs that the feature table lacks. -#}
    {%- set available = adapter.get_columns_in_relation(features_relation)
        | map(attribute='name') | map('lower') | list -%}
    {%- set missing = model.feature_columns | reject('in', available) | list -%}
    {%- if missing -%}
        {{ exceptions.raise_compiler_error(
            "Model " ~ model.model_version ~ " needs feature columns missing from "
            ~ features_relation ~ ": " ~ missing | join(', ')
            ~ ". Retrain (dbt build --vars '{retrain: true}') or restore the columns.") }}
    {%- endif -%}
{%- endmacro %}

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
