{% test model_age_below(model, max_days) %}
{#- Fails with each task's version in use (pinned, else promoted, else newest) that was
    trained more than max_days ago: a model that old should be retrained. -#}
{%- set in_use = [] -%}
{%- for task in var('tasks') -%}
    {%- set registered = registered_model(task) -%}
    {%- if registered is not none -%}
        {%- do in_use.append(registered.model_version) -%}
    {%- endif -%}
{%- endfor %}
select
    model_version,
    task,
    trained_at
from {{ model }}
where
    model_version in ('{{ in_use | join("', '") }}')
    and trained_at < {{ dbt.dateadd('day', -1 * max_days | int, 'cast(current_timestamp as timestamp)') }}
{% endtest %}
