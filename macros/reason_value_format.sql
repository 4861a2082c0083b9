{% macro reason_value_format(feature_name) -%}
    {#- How a reason shows a feature's value, derived from the feature's name (our naming
        conventions): flag (is_/has_ booleans), signed_percent (momentum/trend/growth: a relative
        change), percent (a rate or share), money (spend, value, revenue, amount, price) or
        number (counts, days, averages). Resolved when the SQL is compiled. -#}
    {%- set name = feature_name | lower -%}
    {%- set words = name.split('_') -%}
    {%- if name.startswith('is_') or name.startswith('has_') -%}
        {{- return('flag') -}}
    {%- elif words | select('in', ['momentum', 'trend', 'growth']) | list -%}
        {{- return('signed_percent') -}}
    {%- elif words | select('in', ['rate', 'share']) | list -%}
        {{- return('percent') -}}
    {%- elif words | select('in', ['spend', 'value', 'revenue', 'amount', 'price']) | list -%}
        {{- return('money') -}}
    {%- else -%}
        {{- return('number') -}}
    {%- endif -%}
{%- endmacro %}
