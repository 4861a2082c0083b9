{% macro sha256_hex(expression) -%}
    {{ return(adapter.dispatch('sha256_hex', 'propensity')(expression)) }}
{%- endmacro %}

{#- The SHA-256 digest of a text's UTF-8 bytes as 64 lowercase hexadecimal characters (what
    the ad platforms take for hashed identifiers); null stays null. -#}

{% macro default__sha256_hex(expression) -%}
    sha256(cast({{ expression }} as {{ dbt.type_string() }}))
{%- endmacro %}

{% macro postgres__sha256_hex(expression) -%}
    encode(sha256(convert_to(cast({{ expression }} as text), 'UTF8')), 'hex')
{%- endmacro %}

{% macro spark__sha256_hex(expression) -%}
    sha2(cast({{ expression }} as string), 256)
{%- endmacro %}
