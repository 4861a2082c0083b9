with

source as (
    select * from {{ raw_source('order_lines') }}
),

renamed as (
    select
        cast(order_line_id as bigint) as order_line_id,
        cast(order_id as bigint) as order_id,
        cast(product_id as bigint) as product_id,
        cast(quantity as integer) as quantity,
        -- Money is exact decimal so sums do not depend on the order rows are added in.
        cast(unit_price as decimal(18, 4)) as unit_price,
        coalesce(cast(discount_amount as decimal(18, 4)), 0) as discount_amount,
        row_number() over (partition by order_line_id order by order_id) as key_rank
    from source
),

checked as (
    select
        order_line_id,
        order_id,
        product_id,
        quantity,
        unit_price,
        discount_amount,
        quantity * unit_price - sign(quantity) * discount_amount as line_amount,
        quantity < 0 as is_return,
        {{ first_failed_check([
            ('order_line_id is null', 'missing_order_line_id'),
            ('key_rank > 1', 'duplicate_order_line_id'),
            ('order_id is null', 'missing_order_id'),
            ('product_id is null', 'missing_product_id'),
            ('quantity is null or quantity = 0', 'zero_or_missing_quantity'),
            ('unit_price is null or unit_price < 0', 'negative_or_missing_unit_price'),
            ('discount_amount < 0', 'negative_discount'),
        ]) }} as row_check_failure
    from renamed
)

select * from checked
