{#- No member of an ad audience lacks consent: returns every customer member with an opt-out
    in force at the as-of date (the newest consent event before it, per channel, is
    opted_out) and every prospect member whose lead has no marketing consent. -#}
with

members as (
    select * from {{ ref('ad_audience_members') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
    where is_as_of_snapshot
),

consents as (
    select * from {{ ref('consents') }}
),

leads as (
    select * from {{ ref('leads') }}
),

newest_consents as (
    select
        consents.customer_id,
        consents.consent_status,
        row_number() over (
            partition by consents.customer_id, consents.channel
            order by consents.recorded_at desc, consents.consent_event_id desc
        ) as recency_rank
    from consents
    cross join snapshots
    where consents.recorded_at < cast(snapshots.as_of_date as timestamp)
),

customers_without_consent as (
    select members.*
    from members
    inner join newest_consents
        on
            members.member_id = newest_consents.customer_id
            and newest_consents.recency_rank = 1
            and newest_consents.consent_status = 'opted_out'
    where members.member_type = 'customer'
),

prospects_without_consent as (
    select members.*
    from members
    inner join leads on members.member_id = leads.lead_id
    where members.member_type = 'prospect' and not leads.has_marketing_consent
)

select * from customers_without_consent
union all
select * from prospects_without_consent
