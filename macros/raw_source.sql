{% macro optional_source_switch(table_name) -%}
    {#- The enabled_sources key that switches a raw table; none for required tables. -#}
    {%- set switches = {
        'subscriptions': 'subscriptions',
        'plan_changes': 'subscriptions',
        'sessions': 'sessions',
        'email_events': 'email',
        'support_tickets': 'support',
        'offers': 'offers',
        'consents': 'consents',
        'contract_exceptions': 'contract_exceptions',
    } -%}
    {{- return(switches.get(table_name)) -}}
{%- endmacro %}

{% macro is_source_enabled(table_name) -%}
    {%- set switch = optional_source_switch(table_name) -%}
    {%- if switch is none -%}
        {{- return(true) -}}
    {%- endif -%}
    {%- set enabled = var('enabled_sources', {}) -%}
    {{- return(enabled.get(switch, true) in [true, 'true', 'True', 1]) -}}
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
