{% macro count_band(expression, edges) -%}
    {#- A count as a band label from ascending whole-number edges: edges [1, 3] give '0' (below
        1), '1-2' and '3+'; [1, 2] give '0', '1' and '2+'. A null count reads as 0. The
        lookalike profile bands customers' and prospects' activity with the same edges. -#}
    case
        {%- for edge in edges %}
        {%- set lower = 0 if loop.first else edges[loop.index0 - 1] %}
        {%- set label = lower ~ '' if edge - 1 == lower else lower ~ '-' ~ (edge - 1) %}
        when coalesce({{ expression }}, 0) < {{ edge }} then '{{ label }}'
        {%- endfor %}
        else '{{ edges | last }}+'
    end
{%- endmacro %}
