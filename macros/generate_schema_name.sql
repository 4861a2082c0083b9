{% macro generate_schema_name(custom_schema_name, node) -%}
    {#- Schemas are named as configured (staging, marts, audiences, ...), not prefixed with
        the target schema, so BI users find `audiences.campaign_audiences`. -#}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
