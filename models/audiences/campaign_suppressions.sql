{#- The suppression log: every customer held out of a campaign's audience, one row per
    reason. Suppressed customers never appear in campaign_audiences or in an export. -#}
with

campaigns as (
    select * from {{ ref('campaigns') }}
    where is_active
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
    where is_as_of_snapshot
),

customers as (
    select * from {{ ref('customers') }}
),

opt_outs_in_force as (
    select * from {{ ref('int_opt_outs_in_force') }}
),

support_tickets as (
    select * from {{ ref('support_tickets') }}
),

contract_exceptions as (
    select * from {{ ref('contract_exceptions') }}
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

    select distinct
        support_tickets.customer_id,
        'recent_support_contact' as suppression_reason,
        'support ticket opened in the last {{ var("suppress_support_contact_days") }} days'
            as suppression_detail
    from support_tickets
    cross join snapshots
    where
        support_tickets.opened_at < cast(snapshots.as_of_date as timestamp)
        and support_tickets.opened_at >= cast(
            {{ dbt.dateadd('day', -1 * var('suppress_support_contact_days'), 'snapshots.as_of_date') }}
            as timestamp
        )

    union all

    select distinct
        support_tickets.customer_id,
        'open_support_case' as suppression_reason,
        'support ticket still open' as suppression_detail
    from support_tickets
    cross join snapshots
    where
        support_tickets.opened_at < cast(snapshots.as_of_date as timestamp)
        and (
            support_tickets.resolved_at is null
            or support_tickets.resolved_at >= cast(snapshots.as_of_date as timestamp)
        )

    union all

    select distinct
        contract_exceptions.customer_id,
        'contractual_exception' as suppression_reason,
        contract_exceptions.exception_reason as suppression_detail
    from contract_exceptions
    cross join snapshots
    where
        contract_exceptions.starts_at < cast(snapshots.as_of_date as timestamp)
        and (
            contract_exceptions.ends_at is null
            or contract_exceptions.ends_at >= cast(snapshots.as_of_date as timestamp)
        )
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
