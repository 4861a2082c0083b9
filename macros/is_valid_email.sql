{% macro is_valid_email(column_name) -%}
    {#- True when a cleaned (trimmed, lowercased) email is shaped like an address: text, one
        '@', a domain with a dot after it, no spaces. LIKE patterns, so every engine agrees. -#}
    (
        {{ column_name }} like '_%@_%._%'
        and {{ column_name }} not like '%@%@%'
        and {{ column_name }} not like '% %'
    )
{%- endmacro %}
