with

source as (
    select * from {{ raw_source('customers') }}
),

renamed as (
    select
        cast(customer_id as bigint) as customer_id,
        nullif(lower(trim(email)), '') as email,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        nullif(trim(phone), '') as phone,
        upper(nullif(trim(country_code), '')) as country_code,
        lower(nullif(trim(region), '')) as region,
        lower(nullif(trim(acquisition_channel), '')) as acquisition_channel,
        {{ to_utc_timestamp('signed_up_at') }} as signed_up_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from source
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by updated_at desc nulls last, signed_up_at desc, email asc, country_code asc
        ) as record_recency_rank
    from renamed
),

checked as (
    select
        customer_id,
        email,
        first_name,
        last_name,
        phone,
        country_code,
        region,
        acquisition_channel,
        signed_up_at,
        updated_at,
        {{ first_failed_check([
            ('customer_id is null', 'missing_customer_id'),
            ('record_recency_rank > 1', 'duplicate_superseded_by_newer_record'),
            (is_test_account_email('email'), 'test_account'),
            ('signed_up_at is null', 'missing_or_invalid_signed_up_at'),
        ]) }} as row_check_failure
    from ranked
)

select * from checked
