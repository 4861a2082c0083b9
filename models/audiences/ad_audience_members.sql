{#- The ad-platform audiences, one row per audience and member, hashed: SHA-256 of the
    normalised email and phone in the forms Google Customer Match and Meta custom audiences
    take (docs ad_audience_members). No raw email, phone or name is a column here. Members
    without consent never appear: customers with an opt-out in force at the as-of date on
    any channel (as campaign_suppressions holds them back), leads without marketing
    consent. -#}
with

customer_profiles as (
    select * from {{ ref('lookalike_customer_profiles') }}
),

lookalike_prospects as (
    select * from {{ ref('lookalike_prospects') }}
),

opt_outs_in_force as (
    select * from {{ ref('int_opt_outs_in_force') }}
),

contacts as (
    select * from {{ ref('int_contacts_normalised') }}
),

opted_out_customers as (
    select distinct customer_id
    from opt_outs_in_force
),

members as (
    select
        'best_customers_seed' as audience_name,
        'customer' as member_type,
        customer_profiles.customer_id as member_id,
        customer_profiles.snapshot_date,
        customer_profiles.value_rank as audience_rank
    from customer_profiles
    where
        customer_profiles.is_seed
        and not exists (
            select 1
            from opted_out_customers
            where opted_out_customers.customer_id = customer_profiles.customer_id
        )

    union all

    select
        'lookalike_prospects' as audience_name,
        'prospect' as member_type,
        lead_id as member_id,
        snapshot_date,
        lookalike_rank as audience_rank
    from lookalike_prospects
    where has_marketing_consent
),

hashed as (
    select
        members.audience_name,
        members.member_type,
        members.member_id,
        members.snapshot_date,
        members.audience_rank,
        {{ sha256_hex('contacts.email_normalised') }} as google_email_sha256,
        {{ sha256_hex('contacts.phone_e164') }} as google_phone_sha256,
        {{ sha256_hex('contacts.email_normalised') }} as meta_email_sha256,
        -- Meta: the calling code and number, digits only, no '+'
        {{ sha256_hex('substr(contacts.phone_e164, 2)') }} as meta_phone_sha256
    from members
    left join contacts
        on
            members.member_type = contacts.member_type
            and members.member_id = contacts.member_id
)

select * from hashed
