{#- The contact policy applied at the as-of date: one row per customer and policy channel
    (seed contact_policy). A channel is blocked for a customer who is excluded (support case,
    contractual exception: int_customer_exclusions_in_force), has opted out of the channel's
    consent channel or of 'all', has no email address (email), has had max_contacts contacts
    on the channel in the window_days days ending on the decision day (the decision's own
    contact included: a contact d days before the as-of date counts when d < window_days), or
    was contacted on any channel fewer than cooldown_days days before the as-of date. -#}
with

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
    where is_as_of_snapshot
),

policy as (
    select * from {{ ref('contact_policy') }}
),

customers as (
    select * from {{ ref('customers') }}
),

contact_history as (
    select * from {{ ref('contact_history') }}
),

opt_outs_in_force as (
    select * from {{ ref('int_opt_outs_in_force') }}
),

exclusions_in_force as (
    select * from {{ ref('int_customer_exclusions_in_force') }}
),

contacts_dated as (
    select
        contact_history.customer_id,
        contact_history.channel,
        contact_history.contacted_at,
        {{ dbt.datediff('cast(contact_history.contacted_at as date)', 'snapshots.as_of_date', 'day') }}
            as days_before_as_of
    from contact_history
    cross join snapshots
    where contact_history.contacted_at < cast(snapshots.as_of_date as timestamp)
),

contacts_in_window as (
    select
        contacts_dated.customer_id,
        contacts_dated.channel,
        count(*) as contacts_in_window
    from contacts_dated
    inner join policy on contacts_dated.channel = policy.channel
    where contacts_dated.days_before_as_of < policy.window_days
    group by contacts_dated.customer_id, contacts_dated.channel
),

last_contacts as (
    select
        customer_id,
        max(contacted_at) as last_contacted_at,
        min(days_before_as_of) as days_since_last_contact
    from contacts_dated
    group by customer_id
),

opted_out_channels as (
    select distinct
        opt_outs_in_force.customer_id,
        policy.channel
    from opt_outs_in_force
    inner join policy on opt_outs_in_force.channel in (policy.consent_channel, 'all')
),

exclusions_per_customer as (
    select
        customer_id,
        {{ dbt.listagg('exclusion_reason', "', '", 'order by exclusion_reason') }} as exclusion_reasons
    from exclusions_in_force
    group by customer_id
),

customer_channels as (
    select
        customers.customer_id,
        customers.email,
        policy.policy_version,
        policy.channel,
        policy.max_contacts,
        policy.window_days,
        policy.cooldown_days,
        snapshots.as_of_date
    from customers
    cross join policy
    cross join snapshots
),

states as (
    select
        customer_channels.customer_id,
        customer_channels.channel,
        customer_channels.as_of_date,
        customer_channels.policy_version,
        customer_channels.max_contacts,
        customer_channels.window_days,
        customer_channels.cooldown_days,
        coalesce(contacts_in_window.contacts_in_window, 0) as contacts_in_window,
        last_contacts.last_contacted_at,
        last_contacts.days_since_last_contact,
        exclusions_per_customer.exclusion_reasons,
        exclusions_per_customer.customer_id is not null as is_excluded,
        opted_out_channels.customer_id is not null as is_opted_out,
        customer_channels.channel = 'email' and customer_channels.email is null as is_missing_address,
        coalesce(contacts_in_window.contacts_in_window, 0) >= customer_channels.max_contacts as is_capped,
        coalesce(last_contacts.days_since_last_contact < customer_channels.cooldown_days, false)
            as is_cooling_down
    from customer_channels
    left join contacts_in_window
        on
            customer_channels.customer_id = contacts_in_window.customer_id
            and customer_channels.channel = contacts_in_window.channel
    left join opted_out_channels
        on
            customer_channels.customer_id = opted_out_channels.customer_id
            and customer_channels.channel = opted_out_channels.channel
    left join last_contacts on customer_channels.customer_id = last_contacts.customer_id
    left join exclusions_per_customer
        on customer_channels.customer_id = exclusions_per_customer.customer_id
),

eligibility as (
    select
        *,
        case
            when is_excluded then 'excluded'
            when is_opted_out then 'opted_out_channel'
            when is_missing_address then 'no_email_address'
            when is_capped then 'capped'
            when is_cooling_down then 'cooling_down'
        end as blocking_reason
    from states
),

final as (
    select
        *,
        blocking_reason is null as is_contactable
    from eligibility
)

select * from final
