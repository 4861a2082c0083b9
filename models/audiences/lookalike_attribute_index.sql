{#- How much more often each profile value occurs among the seed (the best customers) than
    among all customers at the as-of snapshot: one row per attribute and value seen among
    customers, with the counts, both shares and the smoothed index (docs lookalike_index).
    A customer with no value for an attribute (no region) is left out of that attribute's
    counts. -#}
{%- set smoothing = var('lookalike_index_smoothing') %}

with

profiles as (
    select * from {{ ref('lookalike_customer_profiles') }}
),

attribute_values as (
    {%- for attribute in lookalike_attributes() %}
    select
        '{{ attribute }}' as attribute_name,
        {{ attribute }} as attribute_value,
        is_seed,
        seed_value_source,
        snapshot_date
    from profiles
    where {{ attribute }} is not null
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

value_counts as (
    select
        attribute_name,
        attribute_value,
        count(*) as customers_count,
        sum(case when is_seed then 1 else 0 end) as seed_customers_count,
        max(seed_value_source) as seed_value_source,
        max(snapshot_date) as snapshot_date
    from attribute_values
    group by attribute_name, attribute_value
),

attribute_totals as (
    select
        attribute_name,
        sum(customers_count) as attribute_customers_count,
        sum(seed_customers_count) as attribute_seed_customers_count
    from value_counts
    group by attribute_name
),

shares as (
    select
        value_counts.attribute_name,
        value_counts.attribute_value,
        value_counts.snapshot_date,
        value_counts.seed_value_source,
        cast(value_counts.customers_count as bigint) as customers_count,
        cast(value_counts.seed_customers_count as bigint) as seed_customers_count,
        cast(value_counts.customers_count as double)
        / attribute_totals.attribute_customers_count as customer_share,
        cast(value_counts.seed_customers_count as double)
        / nullif(attribute_totals.attribute_seed_customers_count, 0) as seed_share,
        -- the seed customers with this value if the seed looked like all customers
        cast(attribute_totals.attribute_seed_customers_count as double)
        * value_counts.customers_count
        / attribute_totals.attribute_customers_count as expected_seed_customers_count
    from value_counts
    inner join attribute_totals on value_counts.attribute_name = attribute_totals.attribute_name
),

indexed as (
    select
        *,
        (seed_customers_count + {{ smoothing }})
        / (expected_seed_customers_count + {{ smoothing }}) as lookalike_index
    from shares
)

select * from indexed
