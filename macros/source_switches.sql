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
        'leads': 'leads',
        'lead_activities': 'leads',
        'campaign_exposures': 'experiments',
    }) -}}
{%- endmacro %}
