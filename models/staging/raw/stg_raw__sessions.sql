with

source as (
    select * from {{ raw_source('sessions') }}
),

renamed as (
    select
        cast(session_id as bigint) as session_id,
        cast(customer_id as bigint) as customer_id,
        {{ to_utc_timestamp('started_at') }} as started_at,
        lower(trim(device)) as device,
        coalesce(cast(page_views as integer), 0) as page_views,
        coalesce(cast(product_clicks as integer), 0) as product_clicks,
        cast(duration_seconds as integer) as duration_seconds,
        row_number() over (partition by session_id order by started_at) as key_rank
    from source
),

checked as (
    select
        session_id,
        customer_id,
        started_at,
        device,
        page_views,
        product_clicks,
        duration_seconds,
        {{ first_failed_check([
            ('session_id is null', 'missing_session_id'),
            ('key_rank > 1', 'duplicate_session_id'),
            ('customer_id is null', 'missing_customer_id'),
            ('started_at is null', 'missing_or_invalid_started_at'),
            ('duration_seconds < 0 or page_views < 0 or product_clicks < 0', 'negative_session_measure'),
        ]) }} as row_check_failure
    from renamed
)

select * from checked
