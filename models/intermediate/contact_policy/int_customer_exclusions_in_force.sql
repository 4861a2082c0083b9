{#- Every customer held out of any contact at the as-of date, one row per reason: a support
    ticket opened in the last suppress_support_contact_days days, a support case still open,
    a contractual exception in force. campaign_suppressions and the decisioning layer's
    contact policy both read it (opt-outs, which are per channel, are int_opt_outs_in_force). -#}
with

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
    where is_as_of_snapshot
),

support_tickets as (
    select * from {{ ref('support_tickets') }}
),

contract_exceptions as (
    select * from {{ ref('contract_exceptions') }}
),

exclusions as (
    select distinct
        support_tickets.customer_id,
        'recent_support_contact' as exclusion_reason,
        'support ticket opened in the last {{ var("suppress_support_contact_days") }} days'
            as exclusion_detail
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
        'open_support_case' as exclusion_reason,
        'support ticket still open' as exclusion_detail
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
        'contractual_exception' as exclusion_reason,
        contract_exceptions.exception_reason as exclusion_detail
    from contract_exceptions
    cross join snapshots
    where
        contract_exceptions.starts_at < cast(snapshots.as_of_date as timestamp)
        and (
            contract_exceptions.ends_at is null
            or contract_exceptions.ends_at >= cast(snapshots.as_of_date as timestamp)
        )
)

select * from exclusions
