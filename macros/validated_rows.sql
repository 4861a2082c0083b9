{% macro validated_rows(staging_relation, relationships=[]) -%}
{#- Every staged row with its final quarantine_reason: the row's own check failure, else
    the first relationship whose parent has no valid (unquarantined) row. relationships is a
    list of {column, parent, parent_key}; the reason is 'orphan_<column>'. -#}
with

staged as (
    select * from {{ staging_relation }}
),
{% for relationship in relationships %}
valid_parent_{{ loop.index }} as (
    select distinct {{ relationship.parent_key }} as parent_key
    from {{ relationship.parent }}
    where quarantine_reason is null
),
{% endfor %}
checked as (
    select
        staged.*,
        {%- if relationships %}
        coalesce(
            staged.row_check_failure,
            case
            {%- for relationship in relationships %}
                when valid_parent_{{ loop.index }}.parent_key is null
                    then 'orphan_{{ relationship.column }}'
            {%- endfor %}
            end
        ) as quarantine_reason
        {%- else %}
        staged.row_check_failure as quarantine_reason
        {%- endif %}
    from staged
    {%- for relationship in relationships %}
    left join valid_parent_{{ loop.index }}
        on staged.{{ relationship.column }} = valid_parent_{{ loop.index }}.parent_key
    {%- endfor %}
)

select * from checked
{%- endmacro %}
