{% macro is_switch_enabled(switch) -%}
    {#- An optional source is on unless enabled_sources sets its switch to false. -#}
    {{- return(var('enabled_sources', {}).get(switch, true) not in [false, 'false', 'False', 0]) -}}
{%- endmacro %}
