{% macro score_reasons(task, features_relation, population_relation, templates_relation, reasons_count=3) -%}
    {%- set keys = task_keys(task) -%}
    {#- The top reasons behind a task's scores for a population (the task's keys):
        the registered model's explanation SQL splits each score's log-odds into one
        contribution per feature; the reasons_count features with the largest positive
        contribution (ties: feature name) become reasons, rendered from their reason_template.
        A feature whose value is missing, or a flag that is false, is never a reason: the
        template describes a value the customer has. Empty when the task has no model. -#}
    {%- set model = registered_model(task) -%}
    {%- if model is none or not model.explanation_sql -%}
        {%- if execute -%}
            {{ log("WARNING: no registered model with an explanation for task " ~ task ~ "; its reasons are empty", info=true) }}
        {%- endif -%}
        select
            {%- for column in keys %}
            population.{{ column }},
            {%- endfor %}
            cast(null as {{ dbt.type_string() }}) as model_version,
            cast(null as {{ dbt.type_bigint() }}) as reason_rank,
            cast(null as {{ dbt.type_string() }}) as feature_name,
            cast(null as double) as feature_value,
            cast(null as double) as contribution,
            cast(null as {{ dbt.type_string() }}) as reason
        from {{ population_relation }} as population
        where 1 = 0
    {%- else -%}
        {%- set features = model.feature_columns -%}
        with

        population_features as (
            select features.*
            from {{ features_relation }} as features
            inner join {{ population_relation }} as population
                on {{ join_on_columns('features', 'population', keys) }}
        ),

        contributions as (
            {{ model.explanation_sql | replace('__propensity_features__', 'population_features') }}
        ),

        explained as (
            {#- One wide row per customer: every feature's value (as a double; missing or NaN
                is null, a flag is 1 or 0) beside its contribution. #}
            select
                {%- for column in keys %}
                population_features.{{ column }},
                {%- endfor %}
                {%- for feature in features %}
                {%- set column = 'population_features.' ~ adapter.quote(feature) %}
                {%- if reason_value_format(feature) == 'flag' %}
                case when {{ column }} then 1.0 when not {{ column }} then 0.0 end
                {%- else %}
                nullif(cast({{ column }} as double), cast('NaN' as double))
                {%- endif %} as {{ adapter.quote('value__' ~ feature) }},
                contributions.{{ adapter.quote('contribution__' ~ feature) }}
                {{- ',' if not loop.last }}
                {%- endfor %}
            from population_features
            inner join contributions
                on {{ join_on_columns('population_features', 'contributions', keys) }}
        ),

        contributions_per_feature as (
            {#- Unpivoted by a join with the feature list (one scan of the wide rows). #}
            select
                {%- for column in keys %}
                explained.{{ column }},
                {%- endfor %}
                model_features.feature_name,
                model_features.value_format,
                case model_features.feature_position
                    {%- for feature in features %}
                    when {{ loop.index }} then cast(explained.{{ adapter.quote('value__' ~ feature) }} as double)
                    {%- endfor %}
                end as feature_value,
                case model_features.feature_position
                    {%- for feature in features %}
                    when {{ loop.index }} then explained.{{ adapter.quote('contribution__' ~ feature) }}
                    {%- endfor %}
                end as contribution
            from explained
            cross join (
                values
                {%- for feature in features %}
                ({{ loop.index }}, '{{ feature }}', '{{ reason_value_format(feature) }}')
                {{- ',' if not loop.last }}
                {%- endfor %}
            ) as model_features (feature_position, feature_name, value_format)
        ),

        candidate_reasons as (
            select *
            from contributions_per_feature
            where
                contribution > 0
                and feature_value is not null
                and (value_format != 'flag' or feature_value = 1)
        ),

        candidate_reasons_ranked as (
            select
                *,
                row_number() over (
                    partition by {{ keys | join(', ') }}
                    order by contribution desc, feature_name asc
                ) as reason_rank
            from candidate_reasons
        ),

        templates as (
            select
                feature_name,
                reason_template
            from {{ templates_relation }}
            where task = '{{ task }}'
        ),

        reasons as (
            select
                {%- for column in keys %}
                top_reasons.{{ column }},
                {%- endfor %}
                '{{ model.model_version }}' as model_version,
                top_reasons.reason_rank,
                top_reasons.feature_name,
                top_reasons.feature_value,
                top_reasons.contribution,
                {{ render_reason(
                    'templates.reason_template', 'top_reasons.feature_value',
                    'top_reasons.value_format', 'top_reasons.feature_name') | indent(16) }} as reason
            from candidate_reasons_ranked as top_reasons
            left join templates on top_reasons.feature_name = templates.feature_name
            where top_reasons.reason_rank <= {{ reasons_count }}
        )

        select * from reasons
    {%- endif -%}
{%- endmacro %}
