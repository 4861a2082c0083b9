{% macro to_utc_timestamp(column_name) -%}
    {{ return(adapter.dispatch('to_utc_timestamp', 'propensity')(column_name)) }}
{%- endmacro %}

{% macro default__to_utc_timestamp(column_name) -%}
    cast(cast({{ column_name }} as timestamp with time zone) at time zone 'UTC' as timestamp)
{%- endmacro %}

{% macro duckdb__to_utc_timestamp(column_name) -%}
    {#- Text with any UTC offset (or a timestamp) to a UTC timestamp; unparseable text gives
        null, which staging quarantines. -#}
    cast(
        try_cast(cast({{ column_name }} as varchar) as timestamp with time zone)
        at time zone 'UTC' as timestamp
    )
{%- endmacro %}
