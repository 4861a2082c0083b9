with

source as (
    select * from {{ raw_source('email_events') }}
),

renamed as (
    select
        cast(email_event_id as bigint) as email_event_id,
        cast(customer_id as bigint) as customer_id,
        email_campaign_code,
        lower(trim(event_type)) as event_type,
        {{ to_utc_timestamp('occurred_at') }} as occurred_at,
        row_number() over (partition by email_event_id order by occurred_at) as key_rank
    from source
),

checked as (
    select
        email_event_id,
        customer_id,
        email_campaign_code,
        event_type,
        occurred_at,
        {{ first_failed_check([
            ('email_event_id is null', 'missing_email_event_id'),
            ('key_rank > 1', 'duplicate_email_event_id'),
            ('customer_id is null', 'missing_customer_id'),
            ('occurred_at is null', 'missing_or_invalid_occurred_at'),
            ("event_type not in ('send', 'open', 'click') or event_type is null", 'unknown_event_type'),
        ]) }} as row_check_failure
    from renamed
)

select * from checked
