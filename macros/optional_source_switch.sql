{% macro optional_source_switch(table_name) -%}
    {#- The enabled_sources key that switches a raw table; none for required tables. -#}
    {{- return(source_switches().get(table_name)) -}}
{%- endmacro %}
