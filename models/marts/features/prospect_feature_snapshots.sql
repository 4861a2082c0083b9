{#- One row per open lead and snapshot date: a lead created before the snapshot and not
    converted before it. Every feature uses only what happened strictly before the snapshot
    date: the activity windows come from the daily pre-aggregates, the activity to date from
    the per-period aggregates rolled forward. The lead's profile (source, company size,
    industry, role, email, consent) is the clean record as it stands. -#}
{%- set measures = lead_activity_types() | map(attribute=1) | list %}
{%- set company_sizes = ['1-10', '11-50', '51-200', '201-1000', '1000+'] %}
{%- set lead_sources = ['organic', 'paid_search', 'webinar', 'referral', 'partner', 'social'] %}
{%- set decision_maker_roles = ['founder', 'executive', 'manager'] %}

with

leads as (
    select * from {{ ref('leads') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

period_activity as (
    select * from {{ ref('int_lead_period_activity') }}
),

windowed_activity as (
    select * from {{ ref('int_lead_windowed_activity') }}
),

first_activity as (
    select
        lead_id,
        min(first_activity_date) as first_activity_date
    from period_activity
    group by lead_id
),

lead_history_starts as (
    -- A lead's history starts at its creation, or at an earlier activity (a source may link
    -- visits from before the lead was created), so that the activity to date counts it.
    select
        leads.lead_id,
        leads.created_at,
        leads.converted_at,
        case
            when cast(first_activity.first_activity_date as timestamp) < leads.created_at
                then cast(first_activity.first_activity_date as timestamp)
            else leads.created_at
        end as history_started_at
    from leads
    left join first_activity on leads.lead_id = first_activity.lead_id
),

lead_grid as (
    -- Every snapshot after the history starts, up to the lead's conversion: the rows the
    -- activity to date is rolled over (conversions stop the lead's history).
    select
        lead_history_starts.lead_id,
        lead_history_starts.created_at,
        snapshots.snapshot_date,
        snapshots.is_as_of_snapshot
    from lead_history_starts
    inner join snapshots
        on
            lead_history_starts.history_started_at < cast(snapshots.snapshot_date as timestamp)
            and (
                lead_history_starts.converted_at is null
                or lead_history_starts.converted_at >= cast(snapshots.snapshot_date as timestamp)
            )
),

rolled as (
    select
        lead_grid.lead_id,
        lead_grid.created_at,
        lead_grid.snapshot_date,
        lead_grid.is_as_of_snapshot,
        cast(sum(period_activity.activities_count) over lead_history as bigint)
            as cumulative_activities_count,
        max(period_activity.last_activity_date) over lead_history as last_activity_date
    from lead_grid
    left join period_activity
        on
            lead_grid.lead_id = period_activity.lead_id
            and lead_grid.snapshot_date = period_activity.snapshot_date
    window lead_history as (
        partition by lead_grid.lead_id
        order by lead_grid.snapshot_date
        rows between unbounded preceding and current row
    )
),

open_leads as (
    -- The population: created before the snapshot (the grid holds no converted lead).
    select *
    from rolled
    where created_at < cast(snapshot_date as timestamp)
),

features as (
    select
        open_leads.lead_id,
        open_leads.snapshot_date,
        open_leads.is_as_of_snapshot,

        -- profile
        cast({{ dbt.datediff('open_leads.created_at', 'open_leads.snapshot_date', 'day') }} as bigint)
            as days_since_created,
        leads.lead_source,
        leads.company_size,
        leads.industry,
        leads.job_role,
        cast(
            case leads.company_size
                {%- for size in company_sizes %}
                when '{{ size }}' then {{ loop.index }}
                {%- endfor %}
            end as integer
        ) as company_size_rank,
        {%- for source in lead_sources %}
        coalesce(leads.lead_source = '{{ source }}', false) as is_source_{{ source }},
        {%- endfor %}
        coalesce(leads.job_role in ('{{ decision_maker_roles | join("', '") }}'), false)
            as is_decision_maker,
        coalesce({{ is_business_email('leads.email') }}, false) as has_business_email,
        leads.has_marketing_consent,

        -- activity in the 30 and 90 days before the snapshot
        {%- for measure in measures + ['activities_count'] %}
        coalesce(windowed_activity.{{ measure }}_30d, 0) as {{ measure }}_30d,
        coalesce(windowed_activity.{{ measure }}_90d, 0) as {{ measure }}_90d,
        {%- endfor %}
        coalesce(windowed_activity.demo_requests_count_30d, 0) > 0 as has_demo_request_30d,
        coalesce(windowed_activity.demo_requests_count_90d, 0) > 0 as has_demo_request_90d,

        -- activity to date
        coalesce(open_leads.cumulative_activities_count, 0) as activities_count,
        cast(
            {{ dbt.datediff('open_leads.last_activity_date', 'open_leads.snapshot_date', 'day') }}
            as bigint
        ) as days_since_last_activity

    from open_leads
    inner join leads on open_leads.lead_id = leads.lead_id
    left join windowed_activity
        on
            open_leads.lead_id = windowed_activity.lead_id
            and open_leads.snapshot_date = windowed_activity.snapshot_date
)

select * from features
