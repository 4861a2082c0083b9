with

source as (
    select * from {{ raw_source('offers') }}
),

renamed as (
    select
        cast(offer_id as bigint) as offer_id,
        cast(customer_id as bigint) as customer_id,
        lower(trim(offer_type)) as offer_type,
        lower(trim(channel)) as channel,
        {{ to_utc_timestamp('shown_at') }} as shown_at,
        {{ to_utc_timestamp('responded_at') }} as responded_at,
        lower(trim(response)) as response,
        row_number() over (partition by offer_id order by shown_at) as key_rank
    from source
),

checked as (
    select
        offer_id,
        customer_id,
        offer_type,
        channel,
        shown_at,
        responded_at,
        response,
        {{ first_failed_check([
            ('offer_id is null', 'missing_offer_id'),
            ('key_rank > 1', 'duplicate_offer_id'),
            ('customer_id is null', 'missing_customer_id'),
            ('shown_at is null', 'missing_or_invalid_shown_at'),
            ("offer_type not in ('upsell', 'cross_sell', 'win_back', 'retention') or offer_type is null", 'unknown_offer_type'),
            ('responded_at < shown_at', 'responded_before_shown'),
        ]) }} as row_check_failure
    from renamed
)

select * from checked
