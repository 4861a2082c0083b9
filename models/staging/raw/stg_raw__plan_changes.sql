with

source as (
    select * from {{ raw_source('plan_changes') }}
),

renamed as (
    select
        cast(plan_change_id as bigint) as plan_change_id,
        cast(subscription_id as bigint) as subscription_id,
        {{ to_utc_timestamp('changed_at') }} as changed_at,
        lower(trim(from_plan)) as from_plan,
        lower(trim(to_plan)) as to_plan,
        row_number() over (partition by plan_change_id order by changed_at) as key_rank
    from source
),

checked as (
    select
        plan_change_id,
        subscription_id,
        changed_at,
        from_plan,
        to_plan,
        {{ first_failed_check([
            ('plan_change_id is null', 'missing_plan_change_id'),
            ('key_rank > 1', 'duplicate_plan_change_id'),
            ('subscription_id is null', 'missing_subscription_id'),
            ('changed_at is null', 'missing_or_invalid_changed_at'),
            ('from_plan not in (select plan_code from ' ~ ref('plan_tiers') ~ ') or from_plan is null', 'unknown_plan'),
            ('to_plan not in (select plan_code from ' ~ ref('plan_tiers') ~ ') or to_plan is null', 'unknown_plan'),
            ('from_plan = to_plan', 'plan_unchanged'),
        ]) }} as row_check_failure
    from renamed
)

select * from checked
