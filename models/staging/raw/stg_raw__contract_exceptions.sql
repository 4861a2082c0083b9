with

source as (
    select * from {{ raw_source('contract_exceptions') }}
),

renamed as (
    select
        cast(exception_id as bigint) as exception_id,
        cast(customer_id as bigint) as customer_id,
        lower(trim(exception_reason)) as exception_reason,
        {{ to_utc_timestamp('starts_at') }} as starts_at,
        {{ to_utc_timestamp('ends_at') }} as ends_at,
        row_number() over (partition by exception_id order by starts_at) as key_rank
    from source
),

checked as (
    select
        exception_id,
        customer_id,
        exception_reason,
        starts_at,
        ends_at,
        {{ first_failed_check([
            ('exception_id is null', 'missing_exception_id'),
            ('key_rank > 1', 'duplicate_exception_id'),
            ('customer_id is null', 'missing_customer_id'),
            ('starts_at is null', 'missing_or_invalid_starts_at'),
            ('ends_at < starts_at', 'ends_before_starts'),
        ]) }} as row_check_failure
    from renamed
)

select * from checked
