{% macro raw_tables() -%}
    {#- Every raw table of the source contract with its key column. -#}
    {{ return([
        ('customers', 'customer_id'),
        ('products', 'product_id'),
        ('subscriptions', 'subscription_id'),
        ('plan_changes', 'plan_change_id'),
        ('orders', 'order_id'),
        ('order_lines', 'order_line_id'),
        ('sessions', 'session_id'),
        ('email_events', 'email_event_id'),
        ('support_tickets', 'ticket_id'),
        ('offers', 'offer_id'),
        ('consents', 'consent_event_id'),
        ('contract_exceptions', 'exception_id'),
        ('leads', 'lead_id'),
        ('lead_activities', 'lead_activity_id'),
        ('campaign_exposures', 'campaign_exposure_id'),
    ]) }}
{%- endmacro %}
