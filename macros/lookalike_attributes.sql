{% macro lookalike_attributes() -%}
    {#- The profile customers and prospects share, compared by the lookalike audience: columns
        of lookalike_customer_profiles and lookalike_prospect_scores, in this order. -#}
    {{ return(['region', 'country_code', 'acquisition_channel', 'visits_band', 'email_clicks_band']) }}
{%- endmacro %}
