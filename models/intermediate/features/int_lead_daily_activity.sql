{#- Lead activities pre-aggregated once to one row per lead and UTC day, one count per
    activity type: the first step of "pre-aggregate, then roll". An activity counts for
    snapshots strictly after its day. -#}
with

lead_activities as (
    select * from {{ ref('lead_activities') }}
),

daily as (
    select
        lead_id,
        cast(activity_at as date) as activity_date,
        {%- for activity_type, measure in lead_activity_types() %}
        cast(sum(case when activity_type = '{{ activity_type }}' then 1 else 0 end) as bigint)
            as {{ measure }},
        {%- endfor %}
        cast(count(*) as bigint) as activities_count
    from lead_activities
    group by 1, 2
)

select * from daily
