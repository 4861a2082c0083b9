{% macro digits_only(expression) -%}
    {{ return(adapter.dispatch('digits_only', 'propensity')(expression)) }}
{%- endmacro %}

{#- The text with every character that is not a digit 0-9 removed. -#}

{% macro default__digits_only(expression) -%}
    regexp_replace({{ expression }}, '[^0-9]', '', 'g')
{%- endmacro %}

{% macro spark__digits_only(expression) -%}
    regexp_replace({{ expression }}, '[^0-9]', '')
{%- endmacro %}
