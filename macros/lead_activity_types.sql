{% macro lead_activity_types() -%}
    {#- Every activity_type of the lead_activities contract and the measure that counts it in
        the lead features (per day, then per window). -#}
    {{ return([
        ('web_visit', 'web_visits_count'),
        ('pricing_page_view', 'pricing_page_views_count'),
        ('content_download', 'content_downloads_count'),
        ('webinar_attended', 'webinars_attended_count'),
        ('email_click', 'email_clicks_count'),
        ('demo_request', 'demo_requests_count'),
    ]) }}
{%- endmacro %}
