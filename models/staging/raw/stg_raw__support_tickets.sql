with

source as (
    select * from {{ raw_source('support_tickets') }}
),

renamed as (
    select
        cast(ticket_id as bigint) as ticket_id,
        cast(customer_id as bigint) as customer_id,
        {{ to_utc_timestamp('opened_at') }} as opened_at,
        {{ to_utc_timestamp('escalated_at') }} as escalated_at,
        {{ to_utc_timestamp('resolved_at') }} as resolved_at,
        lower(trim(priority)) as priority,
        lower(trim(topic)) as topic,
        row_number() over (partition by ticket_id order by opened_at) as key_rank
    from source
),

checked as (
    select
        ticket_id,
        customer_id,
        opened_at,
        escalated_at,
        resolved_at,
        priority,
        topic,
        {{ first_failed_check([
            ('ticket_id is null', 'missing_ticket_id'),
            ('key_rank > 1', 'duplicate_ticket_id'),
            ('customer_id is null', 'missing_customer_id'),
            ('opened_at is null', 'missing_or_invalid_opened_at'),
            ('resolved_at < opened_at', 'resolved_before_opened'),
            ('escalated_at < opened_at', 'escalated_before_opened'),
        ]) }} as row_check_failure
    from renamed
)

select * from checked
