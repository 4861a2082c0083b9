{% macro normal_quantile_975() -%}
    {#- The 0.975 quantile of the standard normal, the multiplier of 95% Wald intervals and the
        two-sided 5% critical value. -#}
    1.959963984540054
{%- endmacro %}
