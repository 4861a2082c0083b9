{% macro chi_square_1_p_value(statistic) -%}
    {#- P(X > statistic) for X chi-square with one degree of freedom: X is the square of a
        standard normal, so the p-value is 2 Phi(-sqrt(statistic)). -#}
    {{ two_sided_p_value('sqrt(' ~ statistic ~ ')') }}
{%- endmacro %}
