{#- Every past contact of a customer, one row per contact and channel: the offers shown
    (offers.shown_at). The contact policy counts these against its caps and cool-downs. -#}
with

offers as (
    select * from {{ ref('offers') }}
),

offer_contacts as (
    select
        'offer:' || cast(offer_id as varchar) as contact_id,
        'offer' as contact_source,
        offer_id as source_record_id,
        customer_id,
        channel,
        shown_at as contacted_at,
        cast(null as varchar) as campaign_id,
        offer_type
    from offers
),

contacts as (
    select
        cast(contact_id as varchar) as contact_id,
        cast(contact_source as varchar) as contact_source,
        cast(source_record_id as bigint) as source_record_id,
        cast(customer_id as bigint) as customer_id,
        cast(channel as varchar) as channel,
        cast(contacted_at as timestamp) as contacted_at,
        cast(campaign_id as varchar) as campaign_id,
        cast(offer_type as varchar) as offer_type
    from offer_contacts
)

select * from contacts
