{%- set activity_types = lead_activity_types() | map(attribute=0) | list %}

with

source as (
    select * from {{ raw_source('lead_activities') }}
),

renamed as (
    select
        cast(lead_activity_id as bigint) as lead_activity_id,
        cast(lead_id as bigint) as lead_id,
        {{ to_utc_timestamp('activity_at') }} as activity_at,
        lower(trim(activity_type)) as activity_type,
        row_number() over (partition by lead_activity_id order by activity_at) as key_rank
    from source
),

checked as (
    select
        lead_activity_id,
        lead_id,
        activity_at,
        activity_type,
        {{ first_failed_check([
            ('lead_activity_id is null', 'missing_lead_activity_id'),
            ('key_rank > 1', 'duplicate_lead_activity_id'),
            ('lead_id is null', 'missing_lead_id'),
            ('activity_at is null', 'missing_or_invalid_activity_at'),
            ("activity_type not in ('" ~ activity_types | join("', '") ~ "') or activity_type is null", 'unknown_activity_type'),
        ]) }} as row_check_failure
    from renamed
)

select * from checked
