{% macro enabled_source_switches() -%}
    {#- Every switch of enabled_sources that is on. -#}
    {%- set switches = [] -%}
    {%- for switch in source_switches().values() | unique -%}
        {%- if is_switch_enabled(switch) -%}
            {%- do switches.append(switch) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(switches) -}}
{%- endmacro %}
