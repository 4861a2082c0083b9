{% test is_sha256_hex(model, column_name) %}
{#- Fails with every row whose value is not a SHA-256 digest as 64 lowercase hexadecimal
    characters (null passes: no identifier to hash). translate() deletes the hex digits, so
    anything left over (an @, a +, a space, an upper-case letter) fails. -#}
select *
from {{ model }}
where
    {{ column_name }} is not null
    and (
        length({{ column_name }}) != 64
        or translate({{ column_name }}, '0123456789abcdef', '') != ''
    )
{% endtest %}
