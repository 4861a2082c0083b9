{% macro task_drift_bins(task, features_relation, expected_population, actual_population, bins=10, epsilon=0.0001) -%}
{#- Per-bin population stability of every input feature of a task's model in use and of
    its score (feature_name '__score__'), between two populations of the task's keys
    (key columns and snapshot_date): expected (e.g. the training population) and actual (e.g. the as-of
    snapshot). Both are scored in SQL by the model (score_population). Each side is read
    once and unpivoted with one CASE over a cross join (portable, no UNPIVOT). A task's
    drift_exclude features are left out. An empty typed relation when the task has no
    registered model. -#}
{%- set model = registered_model(task) -%}
{%- set excluded = task_config(task).get('drift_exclude', []) -%}
{%- set drift_features = (model.feature_columns if model is not none else []) | reject('in', excluded) | list -%}
{%- if model is none %}
select
    cast(null as varchar) as task,
    cast(null as varchar) as model_version,
    cast(null as varchar) as feature_name,
    0 as bin_number,
    cast(null as double) as lower_edge,
    cast(null as double) as upper_edge,
    0 as expected_rows,
    0 as actual_rows,
    cast(null as double) as expected_share,
    cast(null as double) as actual_share,
    cast(null as double) as psi_contribution
from {{ expected_population }}
where 1 = 0
{%- else -%}
{%- set boolean_columns = [] -%}
{%- for column in adapter.get_columns_in_relation(features_relation) -%}
    {%- if column.data_type | lower in ('boolean', 'bool') -%}
        {%- do boolean_columns.append(column.name | lower) -%}
    {%- endif -%}
{%- endfor %}
with

drift_columns as (
    {%- for feature in drift_features %}
    select '{{ feature }}' as feature_name
    union all
    {%- endfor %}
    select '__score__' as feature_name
),
{% for side, population in [('expected', expected_population), ('actual', actual_population)] %}
{{ side }}_scores as (
    {{ score_population(task, features_relation, population) }}
),

{{ side }}_rows as (
    select
        {%- for feature in drift_features %}
        features.{{ feature }},
        {%- endfor %}
        {{ side }}_scores.score
    from {{ side }}_scores
    inner join {{ features_relation }} as features
        on {{ join_on_columns(side ~ '_scores', 'features', task_keys(task)) }}
),

{{ side }}_values as (
    select
        drift_columns.feature_name,
        case drift_columns.feature_name
            {%- for feature in drift_features %}
            {%- if feature | lower in boolean_columns %}
            when '{{ feature }}' then case
                when {{ side }}_rows.{{ feature }} then 1.0
                when not {{ side }}_rows.{{ feature }} then 0.0
            end
            {%- else %}
            when '{{ feature }}' then cast({{ side }}_rows.{{ feature }} as double)
            {%- endif %}
            {%- endfor %}
            when '__score__' then cast({{ side }}_rows.score as double)
        end as value
    from {{ side }}_rows
    cross join drift_columns
),
{% endfor %}
drift_bins as (
    {{ population_stability_bins('expected_values', 'actual_values', ['feature_name'], bins, epsilon) }}
)

select
    '{{ task }}' as task,
    '{{ model.model_version }}' as model_version,
    feature_name,
    bin_number,
    lower_edge,
    upper_edge,
    expected_rows,
    actual_rows,
    expected_share,
    actual_share,
    psi_contribution
from drift_bins
{%- endif -%}
{%- endmacro %}
