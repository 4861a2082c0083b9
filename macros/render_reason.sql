{% macro render_reason(template, value, value_format, feature_name) -%}
    {#- A reason in words: the template with {value} replaced by the value formatted for
        people. number: whole values without decimals, others to one decimal; money: two
        decimals; percent: value x 100 as number then %; signed_percent: the same with + for a
        rise; flag: the template as it stands (a {value} in it reads yes). {s} in a template is
        a plural s, dropped when the value reads 1 ("{value} order{s}"). A feature without a
        template reads as its name (underscores as spaces), then ': {value}' unless a flag. -#}
    {%- set number -%}
        case
            when cast({{ value }} as decimal(38, 1)) = cast({{ value }} as decimal(38, 0))
                then cast(cast({{ value }} as decimal(38, 0)) as {{ dbt.type_string() }})
            else cast(cast({{ value }} as decimal(38, 1)) as {{ dbt.type_string() }})
        end
    {%- endset -%}
    {%- set percent = number | replace(value, '(100 * ' ~ value ~ ')') -%}
    replace(
        replace(
            coalesce(
                {{ template }},
                replace({{ feature_name }}, '_', ' ')
                || case when {{ value_format }} = 'flag' then '' else ': {value}' end
            ),
            '{value}',
            case {{ value_format }}
                when 'flag' then 'yes'
                when 'money' then cast(cast({{ value }} as decimal(38, 2)) as {{ dbt.type_string() }})
                when 'percent' then {{ percent }} || '%'
                when 'signed_percent'
                    then case when {{ value }} > 0 then '+' else '' end || {{ percent }} || '%'
                else {{ number }}
            end
        ),
        '{s}',
        case
            when {{ value_format }} = 'number' and cast({{ value }} as decimal(38, 1)) = 1 then ''
            else 's'
        end
    )
{%- endmacro %}
