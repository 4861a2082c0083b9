{% macro normal_cdf(z) -%}
    {#- The standard normal cumulative distribution function Phi(z) in portable SQL (exp, abs
        and arithmetic only): Hart's (1968) rational approximation for |z| < 5 sqrt(2), a
        continued fraction beyond it, and 0 or 1 past |z| = 37 (as in G. West, "Better
        approximations to cumulative normal functions", 2005). Absolute error about 1e-16
        and relative error below 1e-8 in the lower tail (tests/python/test_statistics_macros.py
        checks it against scipy on a grid). z is repeated in the expression: pass a column. -#}
    (case
        when abs({{ z }}) > 37 then 0.0
        when abs({{ z }}) < 7.07106781186547
            then
                exp(-abs({{ z }}) * abs({{ z }}) / 2.0)
                * ((((((0.0352624965998911 * abs({{ z }}) + 0.700383064443688)
                * abs({{ z }}) + 6.37396220353165)
                * abs({{ z }}) + 33.912866078383)
                * abs({{ z }}) + 112.079291497871)
                * abs({{ z }}) + 221.213596169931)
                * abs({{ z }}) + 220.206867912376)
                / (((((((0.0883883476483184 * abs({{ z }}) + 1.75566716318264)
                * abs({{ z }}) + 16.064177579207)
                * abs({{ z }}) + 86.7807322029461)
                * abs({{ z }}) + 296.564248779674)
                * abs({{ z }}) + 637.333633378831)
                * abs({{ z }}) + 793.826512519948)
                * abs({{ z }}) + 440.413735824752)
        else
            exp(-abs({{ z }}) * abs({{ z }}) / 2.0)
            / (abs({{ z }}) + 1.0 / (abs({{ z }}) + 2.0 / (abs({{ z }}) + 3.0 / (abs({{ z }})
            + 4.0 / (abs({{ z }}) + 0.65)))))
            / 2.506628274631
    end * (case when {{ z }} > 0 then -1.0 else 1.0 end)
    + (case when {{ z }} > 0 then 1.0 else 0.0 end))
{%- endmacro %}
