{#- Every customer and channel whose newest consent event before the as-of date is an
    opt-out: what campaign_suppressions holds back (per channel) and what ad_audience_members
    leaves out (any channel). -#}
with

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
    where is_as_of_snapshot
),

consents as (
    select * from {{ ref('consents') }}
),

consent_in_force as (
    select
        consents.customer_id,
        consents.channel,
        consents.consent_status,
        row_number() over (
            partition by consents.customer_id, consents.channel
            order by consents.recorded_at desc, consents.consent_event_id desc
        ) as recency_rank
    from consents
    cross join snapshots
    where consents.recorded_at < cast(snapshots.as_of_date as timestamp)
),

opt_outs_in_force as (
    select
        customer_id,
        channel
    from consent_in_force
    where recency_rank = 1 and consent_status = 'opted_out'
)

select * from opt_outs_in_force
