{#- Every past contact of a customer, one row per contact: the offers shown
    (offers.shown_at) and the campaign sends (campaign_exposures.sent_at; a control row or a
    failed send is no contact). The contact policy counts these against its caps and
    cool-downs. -#}
with

offers as (
    select * from {{ ref('offers') }}
),

campaign_exposures as (
    select * from {{ ref('campaign_exposures') }}
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

campaign_sends as (
    select
        'campaign_exposure:' || cast(campaign_exposure_id as varchar) as contact_id,
        'campaign_exposure' as contact_source,
        campaign_exposure_id as source_record_id,
        customer_id,
        channel,
        sent_at as contacted_at,
        campaign_id,
        cast(null as varchar) as offer_type
    from campaign_exposures
    where sent_at is not null
),

unioned as (
    select * from offer_contacts
    union all
    select * from campaign_sends
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
    from unioned
)

select * from contacts
