{% macro e164_phone(phone, calling_code, trunk_prefix) -%}
    {{ return(adapter.dispatch('e164_phone', 'propensity')(phone, calling_code, trunk_prefix)) }}
{%- endmacro %}

{#- A phone number in E.164: '+', the calling code, the national number, digits only
    (+442079460000). Spaces, dashes, dots, parentheses and a "(0)" after the calling code are
    dropped. A number written with '+' keeps its calling code; one starting 00 (the
    international prefix) gets '+' for it; any other number is national: the trunk prefix
    (the country's, from country_calling_codes) is dropped and the country's calling code
    put in front. Null when the result is not 8 to 15 digits (E.164 allows at most 15),
    starts with 0 (no calling code does) or is a national number of a country without a
    calling code: such a phone is left out, never guessed.
    calling_code and trunk_prefix are digit texts without '+' (null when unknown). -#}

{% macro default__e164_phone(phone, calling_code, trunk_prefix) -%}
    {%- set stripped = "trim(replace(replace(replace(" ~ phone ~ ", '(0)', ''), '(', ''), ')', ''))" -%}
    {%- set digits = digits_only(stripped) -%}
    {%- set international -%}
        case
            when {{ stripped }} like '+%' then {{ digits }}
            when {{ digits }} like '00%' then substr({{ digits }}, 3)
            when {{ calling_code }} is not null then {{ calling_code }} || (
                case
                    when {{ trunk_prefix }} is not null and {{ digits }} like {{ trunk_prefix }} || '%'
                        then substr({{ digits }}, length({{ trunk_prefix }}) + 1)
                    else {{ digits }}
                end
            )
        end
    {%- endset -%}
    case
        when
            length({{ international }}) between 8 and 15
            and {{ international }} not like '0%'
            then '+' || {{ international }}
    end
{%- endmacro %}
