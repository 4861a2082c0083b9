{#- The suppression log: every customer held out of a campaign's audience, one row per
    reason. Suppressed customers never appear in campaign_audiences or in an export. The
    customer-level exclusions (support, contract) are int_customer_exclusions_in_force,
    shared with the decisioning layer's contact policy. -#}
with

campaigns as (
    select * from {{ ref('campaigns') }}
    where is_active
),

customers as (
    select * from {{ ref('customers') }}
),

opt_outs_in_force as (
    select * from {{ ref('int_opt_outs_in_force') }}
),

exclusions_in_force as (
    select * from {{ ref('int_customer_exclusions_in_force') }}
),

scores as (
    select * from {{ ref('audience_scores') }}
),

customer_reasons as (
    select distinct
        customer_id,
        'opted_out' as suppression_reason,
        'opt-out in force on channel ' || channel as suppression_detail
    from opt_outs_in_force

    union all

    select
        customer_id,
        exclusion_reason as suppression_reason,
        exclusion_detail as suppression_detail
    from exclusions_in_force
),

campaign_candidates as (
    select
        campaigns.campaign_id,
        campaigns.channel,
        scores.customer_id,
        scores.snapshot_date
    from campaigns
    inner join scores on campaigns.task = scores.task
),

suppressions as (
    select
        campaign_candidates.campaign_id,
        campaign_candidates.customer_id,
        campaign_candidates.snapshot_date,
        customer_reasons.suppression_reason,
        customer_reasons.suppression_detail
    from campaign_candidates
    inner join customer_reasons
        on campaign_candidates.customer_id = customer_reasons.customer_id

    union all

    select
        campaign_candidates.campaign_id,
        campaign_candidates.customer_id,
        campaign_candidates.snapshot_date,
        'no_email_address' as suppression_reason,
        'email campaign and no valid email address' as suppression_detail
    from campaign_candidates
    inner join customers on campaign_candidates.customer_id = customers.customer_id
    where campaign_candidates.channel = 'email' and customers.email is null
)

select * from suppressions
