{% macro source_switches() -%}
    {#- Each optional raw table and the enabled_sources key that switches it. -#}
    {{- return({
        'subscriptions': 'subscriptions',
        'plan_changes': 'subscriptions',
        'sessions': 'sessions',
        'email_events': 'email',
        'support_tickets': 'support',
        'offers': 'offers',
        'consents': 'consents',
        'contract_exceptions': 'contract_exceptions',
    }) -}}
{%- endmacro %}

{% macro optional_source_switch(table_name) -%}
    {#- The enabled_sources key that switches a raw table; none for required tables. -#}
    {{- return(source_switches().get(table_name)) -}}
{%- endmacro %}

{% macro is_switch_enabled(switch) -%}
    {#- An optional source is on unless enabled_sources sets its switch to false. -#}
    {{- return(var('enabled_sources', {}).get(switch, true) not in [false, 'false', 'False', 0]) -}}
{%- endmacro %}

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

{% macro is_source_enabled(table_name) -%}
    {%- set switch = optional_source_switch(table_name) -%}
    {{- return(switch is none or is_switch_enabled(switch)) -}}
{%- endmacro %}

{% macro raw_source(table_name) -%}
    {#- The raw table, or an empty relation with the contract's columns when its source is
        switched off, so that everything downstream builds with fewer features. -#}
    {%- set relation = source('raw', table_name) -%}
    {%- if is_source_enabled(table_name) -%}
        {{ relation }}
    {%- else -%}
        {{ empty_source_relation(table_name) }}
    {%- endif -%}
{%- endmacro %}

{% macro empty_source_relation(table_name) -%}
    {%- if not execute -%}
        {#- Parsing: the graph is not loaded yet and nothing runs. -#}
        {{- return('(select 1 as placeholder where 1 = 0)') -}}
    {%- endif -%}
    {%- set node = graph.sources.values() | selectattr('source_name', 'equalto', 'raw')
        | selectattr('name', 'equalto', table_name) | first -%}
    (
        select
        {%- for column in node.columns.values() %}
            cast(null as {{ column.data_type }}) as {{ column.name }}{{ ',' if not loop.last }}
        {%- endfor %}
        where 1 = 0
    )
{%- endmacro %}
