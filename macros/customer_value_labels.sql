{% macro customer_value_labels(task) -%}
    {#- A value task's population and label, for any horizon: the task's label_window_days and
        label_column come from var tasks. Population at a snapshot: every customer who signed
        up before it (the rows of customer_feature_snapshots). Label: the net value of the
        customer's completed orders placed in [snapshot_date, snapshot_date + window), i.e.
        int_orders_enriched.order_value (item lines less returned lines, which the contract
        books on the order itself: it carries no return date); refunded and cancelled orders
        count 0. A window whose returns outweigh its purchases counts 0 (a revenue, not a
        loss). Null, with is_label_complete false, unless the whole window lies before the
        as-of date.
        Cost grows with the data once: rather than joining every order to every snapshot
        window it falls in (12 of them for a year), the window bounds and the orders go on one
        timeline per customer, a running total gives the value ordered before each bound, and
        a window's value is the total at its end less the total at its start (in decimals,
        so the difference is exact). -#}
    {%- set config = task_config(task) -%}
    with

    features as (
        select * from {{ ref('customer_feature_snapshots') }}
    ),

    snapshots as (
        select * from {{ ref('int_snapshot_dates') }}
    ),

    orders as (
        select * from {{ ref('int_orders_enriched') }}
    ),

    population as (
        select
            features.customer_id,
            features.snapshot_date,
            cast({{ dbt.dateadd('day', config.label_window_days, 'features.snapshot_date') }} as date)
                as label_window_end_date,
            snapshots.as_of_date
        from features
        inner join snapshots on features.snapshot_date = snapshots.snapshot_date
    ),

    window_bounds as (
        select
            customer_id,
            cast(snapshot_date as timestamp) as bound_at
        from population
        union
        select
            customer_id,
            cast(label_window_end_date as timestamp) as bound_at
        from population
    ),

    timeline as (
        {#- A bound sorts before an order placed at the same instant (event_order 0 before 1),
            so the total at a bound holds the orders strictly before it. #}
        select
            customer_id,
            bound_at as event_at,
            0 as event_order,
            cast(0 as decimal(18, 4)) as completed_value,
            0 as completed_orders
        from window_bounds
        union all
        select
            customer_id,
            ordered_at as event_at,
            1 as event_order,
            cast(order_value as decimal(18, 4)) as completed_value,
            1 as completed_orders
        from orders
        where order_status = 'completed'
    ),

    running_totals as (
        select
            customer_id,
            event_at,
            event_order,
            sum(completed_value) over customer_timeline as completed_value_before,
            sum(completed_orders) over customer_timeline as completed_orders_before
        from timeline
        window customer_timeline as (
            partition by customer_id
            order by event_at, event_order
            rows between unbounded preceding and current row
        )
    ),

    totals_at_bounds as (
        select
            customer_id,
            event_at as bound_at,
            completed_value_before,
            completed_orders_before
        from running_totals
        where event_order = 0
    ),

    labelled as (
        select
            population.customer_id,
            population.snapshot_date,
            population.label_window_end_date,
            population.label_window_end_date <= population.as_of_date as is_label_complete,
            case
                when population.label_window_end_date <= population.as_of_date
                    then cast(greatest(
                        window_end.completed_value_before - window_start.completed_value_before,
                        0
                    ) as double)
            end as {{ config.label_column }},
            case
                when population.label_window_end_date <= population.as_of_date
                    then cast(
                        window_end.completed_orders_before - window_start.completed_orders_before
                        as bigint
                    )
            end as completed_orders_count
        from population
        inner join totals_at_bounds as window_start
            on
                population.customer_id = window_start.customer_id
                and cast(population.snapshot_date as timestamp) = window_start.bound_at
        inner join totals_at_bounds as window_end
            on
                population.customer_id = window_end.customer_id
                and cast(population.label_window_end_date as timestamp) = window_end.bound_at
    )

    select * from labelled
{%- endmacro %}
