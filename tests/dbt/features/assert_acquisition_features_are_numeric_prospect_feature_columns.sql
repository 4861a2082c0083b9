{#- Every acquisition feature of the task_features seed is a numeric or boolean column of
    prospect_feature_snapshots (the table the acquisition model reads). Returns the ones that
    are not. Checks nothing when prospect_feature_snapshots is not built in this warehouse
    (a selection such as +ml_task_features runs this test for its seed parent alone). -#}
{%- set usable = [] -%}
{%- set relation = load_relation(ref('prospect_feature_snapshots')) if execute else none -%}
{%- set columns = adapter.get_columns_in_relation(relation) if relation is not none else [] -%}
{%- for column in columns if not column.is_string() -%}
{%- do usable.append(column.name | lower) -%}
{%- endfor %}
-- depends_on: {{ ref('prospect_feature_snapshots') }}

with

task_features as (
    select * from {{ ref('task_features') }}
)

select
    task,
    feature_name
from task_features
where
    task = 'acquisition'
    {%- if relation is not none %}
    and feature_name not in ('{{ usable | join("', '") }}')
    {%- else %}
    and false
    {%- endif %}
