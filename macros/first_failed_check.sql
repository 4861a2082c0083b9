{% macro first_failed_check(checks) -%}
    {#- checks: a list of (condition, reason) pairs in priority order. Returns the reason of
        the first condition that holds, or null when the row passes them all. -#}
    case
    {%- for condition, reason in checks %}
        when {{ condition }} then '{{ reason }}'
    {%- endfor %}
    end
{%- endmacro %}
