with

source as (
    select * from {{ raw_source('leads') }}
),

renamed as (
    select
        cast(lead_id as bigint) as lead_id,
        nullif(lower(trim(email)), '') as email,
        -- '+<calling code><number>': the spaces, dashes and parentheses people type removed.
        nullif(
            replace(replace(replace(replace(trim(phone), ' ', ''), '-', ''), '(', ''), ')', ''),
            ''
        ) as phone,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        upper(nullif(trim(country_code), '')) as country_code,
        lower(nullif(trim(region), '')) as region,
        lower(nullif(trim(lead_source), '')) as lead_source,
        nullif(trim(company_size), '') as company_size,
        lower(nullif(trim(industry), '')) as industry,
        lower(nullif(trim(job_role), '')) as job_role,
        -- Consent is never assumed: a missing value reads as no.
        coalesce(cast(has_marketing_consent as boolean), false) as has_marketing_consent,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('converted_at') }} as converted_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        converted_at is not null as has_converted_at_text
    from source
),

ranked as (
    select
        *,
        row_number() over (
            partition by lead_id
            order by updated_at desc nulls last, created_at desc, email asc, phone asc
        ) as record_recency_rank
    from renamed
),

checked as (
    select
        lead_id,
        email,
        phone,
        first_name,
        last_name,
        country_code,
        region,
        lead_source,
        company_size,
        industry,
        job_role,
        has_marketing_consent,
        created_at,
        converted_at,
        updated_at,
        {{ first_failed_check([
            ('lead_id is null', 'missing_lead_id'),
            ('record_recency_rank > 1', 'duplicate_superseded_by_newer_record'),
            (is_test_account_email('email'), 'test_account'),
            ('email is not null and not ' ~ is_valid_email('email'), 'invalid_email'),
            ('created_at is null', 'missing_or_invalid_created_at'),
            ('has_converted_at_text and converted_at is null', 'invalid_converted_at'),
            ('converted_at < created_at', 'converted_before_created'),
        ]) }} as row_check_failure
    from ranked
)

select * from checked
