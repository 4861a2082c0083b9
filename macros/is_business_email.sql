{% macro is_business_email(column_name) -%}
    {#- True when a cleaned email's domain is not a free-mail domain (var free_email_domains);
        null without an email. -#}
    (
        {{ dbt.split_part(column_name, "'@'", 2) }}
        not in ('{{ var("free_email_domains") | map("lower") | join("', '") }}')
    )
{%- endmacro %}
