{% macro is_source_enabled(table_name) -%}
    {%- set switch = optional_source_switch(table_name) -%}
    {{- return(switch is none or is_switch_enabled(switch)) -}}
{%- endmacro %}
