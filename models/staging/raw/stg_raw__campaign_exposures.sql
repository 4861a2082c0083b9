with

source as (
    select * from {{ raw_source('campaign_exposures') }}
),

renamed as (
    select
        cast(source.campaign_exposure_id as bigint) as campaign_exposure_id,
        nullif(trim(source.campaign_id), '') as campaign_id,
        cast(source.customer_id as bigint) as customer_id,
        lower(trim(source.experiment_group)) as experiment_group,
        {{ to_utc_timestamp('source.assigned_at') }} as assigned_at,
        {{ to_utc_timestamp('source.sent_at') }} as sent_at,
        lower(trim(source.channel)) as channel,
        source.sent_at is not null as has_sent_at_text
    from source
),

ranked as (
    select
        *,
        row_number() over (
            partition by campaign_exposure_id
            order by assigned_at, sent_at, customer_id, experiment_group
        ) as key_rank,
        -- Both groups of one campaign for the same customer: the assignment is unknowable.
        min(
            case when experiment_group in ('treatment', 'control') then experiment_group end
        ) over (partition by campaign_id, customer_id) as first_known_group,
        max(
            case when experiment_group in ('treatment', 'control') then experiment_group end
        ) over (partition by campaign_id, customer_id) as last_known_group
    from renamed
),

assignments_ranked as (
    select
        *,
        -- Among rows with distinct keys (copies of one key fail duplicate_campaign_exposure_id).
        row_number() over (
            partition by campaign_id, customer_id, experiment_group, key_rank > 1
            order by assigned_at, campaign_exposure_id
        ) as assignment_rank
    from ranked
),

checked as (
    select
        campaign_exposure_id,
        campaign_id,
        customer_id,
        experiment_group,
        assigned_at,
        sent_at,
        channel,
        {{ first_failed_check([
            ('campaign_exposure_id is null', 'missing_campaign_exposure_id'),
            ('key_rank > 1', 'duplicate_campaign_exposure_id'),
            ('campaign_id is null', 'missing_campaign_id'),
            ('customer_id is null', 'missing_customer_id'),
            ('assigned_at is null', 'missing_or_invalid_assigned_at'),
            ("experiment_group not in ('treatment', 'control') or experiment_group is null", 'unknown_experiment_group'),
            ('has_sent_at_text and sent_at is null', 'invalid_sent_at'),
            ('sent_at < assigned_at', 'sent_before_assigned'),
            ("experiment_group = 'control' and sent_at is not null", 'control_with_sent_at'),
            ('first_known_group != last_known_group', 'customer_in_both_groups'),
            ('assignment_rank > 1', 'duplicate_customer_assignment'),
        ]) }} as row_check_failure
    from assignments_ranked
)

select * from checked
