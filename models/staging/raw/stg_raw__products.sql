with

source as (
    select * from {{ raw_source('products') }}
),

renamed as (
    select
        cast(product_id as bigint) as product_id,
        nullif(trim(product_name), '') as product_name,
        lower(nullif(trim(category), '')) as category,
        lower(nullif(trim(price_tier), '')) as price_tier,
        cast(list_price as double) as list_price,
        row_number() over (partition by product_id order by product_name) as key_rank
    from source
),

checked as (
    select
        product_id,
        product_name,
        category,
        price_tier,
        list_price,
        {{ first_failed_check([
            ('product_id is null', 'missing_product_id'),
            ('key_rank > 1', 'duplicate_product_id'),
            ('category is null', 'missing_category'),
            ("price_tier not in ('entry', 'standard', 'premium') or price_tier is null", 'unknown_price_tier'),
            ('list_price < 0', 'negative_list_price'),
        ]) }} as row_check_failure
    from renamed
)

select * from checked
