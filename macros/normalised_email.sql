{% macro normalised_email(expression) -%}
    {{ return(adapter.dispatch('normalised_email', 'propensity')(expression)) }}
{%- endmacro %}

{#- An email as the ad platforms hash it: surrounding spaces removed, lower case; null when
    empty or not shaped like an address (is_valid_email). Dots in gmail.com addresses are
    kept: Google Customer Match and Meta both ask for trim and lower case only, and Meta
    would not match an address with its dots stripped. -#}

{% macro default__normalised_email(expression) -%}
    case
        when {{ is_valid_email('lower(trim(' ~ expression ~ '))') }}
            then lower(trim({{ expression }}))
    end
{%- endmacro %}
