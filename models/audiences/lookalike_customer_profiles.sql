{#- Every customer at the as-of snapshot with the profile the lookalike audience compares
    (region, country, acquisition channel, visit and email-click bands of the last 30 days),
    their value and whether they are in the seed: the best customers, the top
    lookalike_seed_top_fraction by the value task's predicted revenue when it has
    predictions, else by spend in the 12 months before the as-of date (docs lookalike_seed). -#}
{%- set value_task = var('lookalike_value_task') %}

with

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
    where is_as_of_snapshot
),

customers as (
    select * from {{ ref('customers') }}
),

features as (
    select * from {{ ref('customer_feature_snapshots') }}
    where is_as_of_snapshot
),

daily_activity as (
    select * from {{ ref('int_customer_daily_activity') }}
),

predicted_values as (
    select * from {{ ref('customer_predicted_values') }}
    where task = '{{ value_task }}'
),

value_source as (
    -- The value task's predictions when it has any, else the spend of the last 12 months.
    select
        case
            when count(*) > 0 then '{{ value_task }}'
            else 'spend_12m'
        end as seed_value_source
    from predicted_values
),

spend_12m as (
    select
        daily_activity.customer_id,
        cast(sum(daily_activity.purchases_amount) as double) as spend_12m
    from daily_activity
    cross join snapshots
    where
        daily_activity.activity_date < snapshots.as_of_date
        and daily_activity.activity_date >= {{ dbt.dateadd('month', -12, 'snapshots.as_of_date') }}
        and daily_activity.purchases_count > 0
    group by daily_activity.customer_id
),

profiles as (
    select
        features.customer_id,
        features.snapshot_date,
        customers.region,
        customers.country_code,
        customers.acquisition_channel,
        {{ count_band('features.sessions_count_30d', var('lookalike_visits_bands')) }} as visits_band,
        {{ count_band('features.email_clicks_count_30d', var('lookalike_email_clicks_bands')) }}
            as email_clicks_band,
        value_source.seed_value_source,
        case
            when value_source.seed_value_source = 'spend_12m'
                then coalesce(spend_12m.spend_12m, 0)
            else predicted_values.predicted_value
        end as seed_value,
        features.total_spend
    from features
    inner join customers on features.customer_id = customers.customer_id
    cross join value_source
    left join spend_12m on features.customer_id = spend_12m.customer_id
    left join predicted_values on features.customer_id = predicted_values.customer_id
),

ranked as (
    select
        *,
        row_number() over (
            order by seed_value desc nulls last, total_spend desc, customer_id asc
        ) as value_rank,
        count(*) over () as customers_count
    from profiles
),

final as (
    select
        customer_id,
        snapshot_date,
        region,
        country_code,
        acquisition_channel,
        visits_band,
        email_clicks_band,
        seed_value_source,
        seed_value,
        total_spend,
        value_rank,
        coalesce(
            value_rank <= ceil(customers_count * {{ var('lookalike_seed_top_fraction') }})
            and seed_value > 0,
            false
        ) as is_seed
    from ranked
)

select * from final
