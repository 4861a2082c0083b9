{% macro is_test_account_email(column_name) -%}
    {#- True when the (cleaned) email belongs to a test-account domain (var
        test_account_email_domains). -#}
    (
    {%- for domain in var('test_account_email_domains') %}
        {{ column_name }} like '%@{{ domain | lower }}'{{ ' or' if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}
