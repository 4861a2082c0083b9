with

source as (
    select * from {{ raw_source('orders') }}
),

renamed as (
    select
        cast(order_id as bigint) as order_id,
        cast(customer_id as bigint) as customer_id,
        {{ to_utc_timestamp('ordered_at') }} as ordered_at,
        lower(trim(order_status)) as order_status,
        lower(trim(sales_channel)) as sales_channel,
        row_number() over (partition by order_id order by ordered_at) as key_rank
    from source
),

checked as (
    select
        order_id,
        customer_id,
        ordered_at,
        order_status,
        sales_channel,
        {{ first_failed_check([
            ('order_id is null', 'missing_order_id'),
            ('key_rank > 1', 'duplicate_order_id'),
            ('customer_id is null', 'missing_customer_id'),
            ('ordered_at is null', 'missing_or_invalid_ordered_at'),
            ("order_status not in ('completed', 'refunded', 'cancelled') or order_status is null", 'unknown_order_status'),
        ]) }} as row_check_failure
    from renamed
)

select * from checked
