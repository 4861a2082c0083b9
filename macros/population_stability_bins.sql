{% macro population_stability_bins(expected_relation, actual_relation, group_columns, bins=10, epsilon=0.0001) -%}
{#- Population stability per bin of two distributions of a numeric column `value`, for each
    group (group_columns) present on either side. Portable SQL (ntile, row_number, ln,
    greatest), one query.

    Bins: the upper edges are the maxima of `bins` ntile quantiles of the expected
    (non-null) values; repeated edges (tied values) collapse into one bin, so a constant
    feature has a single bin and no bin is ever duplicated. Bin k holds values in
    (edge k-1, edge k]; the first bin is open below and the last open above, so actual
    values outside the expected range still land in a bin. Bin 0 holds missing values.
    A group whose expected side has only missing values gets one open bin; a group with
    no expected rows at all is left out (its PSI is undefined).

    Shares are of all the side's rows (missing ones included), so each side's shares sum
    to 1. PSI contribution of a bin: (a - e) * ln(a / e), with a and e the actual and
    expected shares floored at epsilon so that empty bins keep the sum finite. -#}
{%- set groups = group_columns | join(', ') -%}
{%- set join_on = [] -%}
{%- for column in group_columns -%}
    {%- do join_on.append('values_side.' ~ column ~ ' = value_bins.' ~ column) -%}
{%- endfor %}
with

side_values as (
    select
        'expected' as side,
        {{ groups }},
        value
    from {{ expected_relation }}
    union all
    select
        'actual' as side,
        {{ groups }},
        value
    from {{ actual_relation }}
),

all_groups as (
    select distinct {{ groups }}
    from side_values
    where side = 'expected'
),

expected_quantiles as (
    select
        {{ groups }},
        value,
        ntile({{ bins }}) over (partition by {{ groups }} order by value) as quantile
    from side_values
    where side = 'expected' and value is not null
),

quantile_edges as (
    select
        {{ groups }},
        max(value) as upper_edge
    from expected_quantiles
    group by {{ groups }}, quantile
),

distinct_edges as (
    select
        {{ groups }},
        upper_edge
    from quantile_edges
    group by {{ groups }}, upper_edge
),

numbered_edges as (
    select
        {{ groups }},
        upper_edge,
        lag(upper_edge) over (partition by {{ groups }} order by upper_edge) as lower_edge,
        row_number() over (partition by {{ groups }} order by upper_edge) as bin_number,
        count(*) over (partition by {{ groups }}) as edges_count
    from distinct_edges
),

value_bins as (
    select
        {%- for column in group_columns %}
        all_groups.{{ column }},
        {%- endfor %}
        coalesce(numbered_edges.bin_number, 1) as bin_number,
        numbered_edges.lower_edge,
        case
            when numbered_edges.bin_number < numbered_edges.edges_count
                then numbered_edges.upper_edge
        end as upper_edge
    from all_groups
    left join numbered_edges
        on
        {%- for column in group_columns %}
            {{ 'and ' if not loop.first }}all_groups.{{ column }} = numbered_edges.{{ column }}
        {%- endfor %}
),

all_bins as (
    select
        {{ groups }},
        0 as bin_number,
        cast(null as double) as lower_edge,
        cast(null as double) as upper_edge
    from all_groups
    union all
    select
        {{ groups }},
        bin_number,
        lower_edge,
        upper_edge
    from value_bins
),

binned_values as (
    select
        {%- for column in group_columns %}
        values_side.{{ column }},
        {%- endfor %}
        values_side.side,
        value_bins.bin_number
    from side_values as values_side
    inner join value_bins
        on
            {{ join_on | join(' and ') }}
            and (value_bins.lower_edge is null or values_side.value > value_bins.lower_edge)
            and (value_bins.upper_edge is null or values_side.value <= value_bins.upper_edge)
    where values_side.value is not null
    union all
    select
        {{ groups }},
        side,
        0 as bin_number
    from side_values
    where value is null
),

bin_counts as (
    select
        {{ groups }},
        bin_number,
        sum(case when side = 'expected' then 1 else 0 end) as expected_rows,
        sum(case when side = 'actual' then 1 else 0 end) as actual_rows
    from binned_values
    group by {{ groups }}, bin_number
),

side_totals as (
    select
        {{ groups }},
        sum(case when side = 'expected' then 1 else 0 end) as expected_total,
        sum(case when side = 'actual' then 1 else 0 end) as actual_total
    from side_values
    group by {{ groups }}
),

bin_shares as (
    select
        {%- for column in group_columns %}
        all_bins.{{ column }},
        {%- endfor %}
        all_bins.bin_number,
        all_bins.lower_edge,
        all_bins.upper_edge,
        coalesce(bin_counts.expected_rows, 0) as expected_rows,
        coalesce(bin_counts.actual_rows, 0) as actual_rows,
        coalesce(1.0 * bin_counts.expected_rows / nullif(side_totals.expected_total, 0), 0)
            as expected_share,
        coalesce(1.0 * bin_counts.actual_rows / nullif(side_totals.actual_total, 0), 0)
            as actual_share
    from all_bins
    inner join side_totals
        on
        {%- for column in group_columns %}
            {{ 'and ' if not loop.first }}all_bins.{{ column }} = side_totals.{{ column }}
        {%- endfor %}
    left join bin_counts
        on
        {%- for column in group_columns %}
            {{ 'and ' if not loop.first }}all_bins.{{ column }} = bin_counts.{{ column }}
        {%- endfor %}
            and all_bins.bin_number = bin_counts.bin_number
),

bin_stability as (
    select
        {{ groups }},
        bin_number,
        lower_edge,
        upper_edge,
        expected_rows,
        actual_rows,
        cast(expected_share as double) as expected_share,
        cast(actual_share as double) as actual_share,
        cast(
            (greatest(actual_share, {{ epsilon }}) - greatest(expected_share, {{ epsilon }}))
            * ln(greatest(actual_share, {{ epsilon }}) / greatest(expected_share, {{ epsilon }}))
            as double
        ) as psi_contribution
    from bin_shares
)

select * from bin_stability
{%- endmacro %}
