with

source as (
    select * from {{ raw_source('consents') }}
),

renamed as (
    select
        cast(consent_event_id as bigint) as consent_event_id,
        cast(customer_id as bigint) as customer_id,
        lower(trim(channel)) as channel,
        lower(trim(consent_status)) as consent_status,
        {{ to_utc_timestamp('recorded_at') }} as recorded_at,
        row_number() over (partition by consent_event_id order by recorded_at) as key_rank
    from source
),

checked as (
    select
        consent_event_id,
        customer_id,
        channel,
        consent_status,
        recorded_at,
        {{ first_failed_check([
            ('consent_event_id is null', 'missing_consent_event_id'),
            ('key_rank > 1', 'duplicate_consent_event_id'),
            ('customer_id is null', 'missing_customer_id'),
            ('recorded_at is null', 'missing_or_invalid_recorded_at'),
            ("channel not in ('email', 'sms', 'all') or channel is null", 'unknown_channel'),
            ("consent_status not in ('opted_in', 'opted_out') or consent_status is null", 'unknown_consent_status'),
        ]) }} as row_check_failure
    from renamed
)

select * from checked
