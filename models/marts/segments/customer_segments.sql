{#- Lifecycle and value segments for every customer at every snapshot, from the seeds:
    Active (order in the last 30 days), Cooling (31-59 days: the gap the seeds leave, named
    so that no customer falls between segments), At-risk (60-90), Dormant (90+), No purchase;
    High value (top 20% by average order value among buyers); Engagement-driven (clicks per
    visit in the top quarter of visitors, at most one order in 90 days). -#}
with

features as (
    select * from {{ ref('customer_feature_snapshots') }}
),

ranked as (
    select
        customer_id,
        snapshot_date,
        days_since_last_order,
        average_order_value,
        clicks_per_visit_30d,
        orders_count_90d,
        last_order_category,
        case
            when average_order_value is not null
                then cume_dist() over (
                    partition by snapshot_date, average_order_value is null
                    order by average_order_value desc
                )
        end as average_order_value_top_share,
        case
            when clicks_per_visit_30d is not null
                then cume_dist() over (
                    partition by snapshot_date, clicks_per_visit_30d is null
                    order by clicks_per_visit_30d
                )
        end as clicks_per_visit_quantile
    from features
),

segmented as (
    select
        customer_id,
        snapshot_date,
        case
            when days_since_last_order is null then 'no_purchase'
            when days_since_last_order <= 30 then 'active'
            when days_since_last_order < 60 then 'cooling'
            when days_since_last_order <= 90 then 'at_risk'
            else 'dormant'
        end as lifecycle_segment,
        coalesce(
            average_order_value_top_share <= {{ var('segment_high_value_top_fraction') }}, false
        ) as is_high_value,
        coalesce(
            clicks_per_visit_quantile >= {{ var('segment_engagement_click_rate_quantile') }}
            and orders_count_90d <= 1,
            false
        ) as is_engagement_driven,
        last_order_category
    from ranked
),

final as (
    select
        *,
        case
            when is_high_value then 'high_value'
            when is_engagement_driven then 'engagement_driven'
            else lifecycle_segment
        end as segment
    from segmented
)

select * from final
