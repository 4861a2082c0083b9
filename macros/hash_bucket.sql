{% macro hash_bucket(expression, buckets) -%}
    {{ return(adapter.dispatch('hash_bucket', 'propensity')(expression, buckets)) }}
{%- endmacro %}

{#- A stable bucket in [0, buckets) from the first 32 bits of md5(expression): the same on
    every run and on every engine, so holdout groups never reshuffle. -#}

{% macro duckdb__hash_bucket(expression, buckets) -%}
    (cast(('0x' || substr(md5(cast({{ expression }} as varchar)), 1, 8)) as bigint) % {{ buckets }})
{%- endmacro %}

{% macro postgres__hash_bucket(expression, buckets) -%}
    (('x' || substr(md5(cast({{ expression }} as varchar)), 1, 8))::bit(32)::bigint % {{ buckets }})
{%- endmacro %}

{% macro default__hash_bucket(expression, buckets) -%}
    (cast(conv(substr(md5(cast({{ expression }} as string)), 1, 8), 16, 10) as bigint) % {{ buckets }})
{%- endmacro %}
