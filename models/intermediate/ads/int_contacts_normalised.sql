{#- Every customer's and lead's email and phone normalised the way the ad platforms hash
    them: the email trimmed and lower case (normalised_email), the phone in E.164
    (e164_phone, with the calling code of the person's country for a number written
    without one). A view: it holds nothing the clean marts do not, and only
    ad_audience_members reads it, to hash. -#}
{{ config(materialized='view') }}

with

customers as (
    select * from {{ ref('customers') }}
),

leads as (
    select * from {{ ref('leads') }}
),

calling_codes as (
    select * from {{ ref('country_calling_codes') }}
),

contacts as (
    select
        'customer' as member_type,
        customer_id as member_id,
        country_code,
        email,
        phone
    from customers

    union all

    select
        'prospect' as member_type,
        lead_id as member_id,
        country_code,
        email,
        phone
    from leads
),

normalised as (
    select
        contacts.member_type,
        contacts.member_id,
        contacts.country_code,
        {{ normalised_email('contacts.email') }} as email_normalised,
        {{ e164_phone('contacts.phone', 'calling_codes.calling_code', 'calling_codes.trunk_prefix') }}
            as phone_e164
    from contacts
    left join calling_codes on contacts.country_code = calling_codes.country_code
)

select * from normalised
