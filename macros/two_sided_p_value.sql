{% macro two_sided_p_value(z) -%}
    {#- The two-sided p-value of a standard normal statistic z: 2 Phi(-|z|) (computed from the
        lower tail, so small p-values keep their precision); null when z is null. -#}
    (2.0 * {{ normal_cdf('(-abs(' ~ z ~ '))') }})
{%- endmacro %}
