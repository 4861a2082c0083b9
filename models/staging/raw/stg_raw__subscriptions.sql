with

source as (
    select * from {{ raw_source('subscriptions') }}
),

renamed as (
    select
        cast(subscription_id as bigint) as subscription_id,
        cast(customer_id as bigint) as customer_id,
        lower(trim(initial_plan)) as initial_plan,
        {{ to_utc_timestamp('started_at') }} as started_at,
        {{ to_utc_timestamp('cancelled_at') }} as cancelled_at,
        cancelled_at is not null as has_cancelled_at_text,
        row_number() over (partition by subscription_id order by started_at) as key_rank
    from source
),

checked as (
    select
        subscription_id,
        customer_id,
        initial_plan,
        started_at,
        cancelled_at,
        {{ first_failed_check([
            ('subscription_id is null', 'missing_subscription_id'),
            ('key_rank > 1', 'duplicate_subscription_id'),
            ('customer_id is null', 'missing_customer_id'),
            ('initial_plan not in (select plan_code from ' ~ ref('plan_tiers') ~ ') or initial_plan is null', 'unknown_plan'),
            ('started_at is null', 'missing_or_invalid_started_at'),
            ('has_cancelled_at_text and cancelled_at is null', 'invalid_cancelled_at'),
            ('cancelled_at < started_at', 'cancelled_before_started'),
        ]) }} as row_check_failure
    from renamed
)

select * from checked
