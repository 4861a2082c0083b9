{#- Who was assigned to which campaign's treatment or control group (the clean rows), with
    the snapshot whose features the assignment saw: the newest snapshot date on or before
    assigned_at. Read-outs compare the groups on outcomes in the window after it. -#}
with

exposures as (
    select * from {{ ref('int_campaign_exposures_validated') }}
    where quarantine_reason is null
),

snapshot_dates as (
    select * from {{ ref('int_snapshot_dates') }}
),

exposure_snapshots as (
    select
        exposures.campaign_exposure_id,
        max(snapshot_dates.snapshot_date) as snapshot_date
    from exposures
    inner join snapshot_dates
        on snapshot_dates.snapshot_date <= cast(exposures.assigned_at as date)
    group by exposures.campaign_exposure_id
),

exposures_dated as (
    select
        exposures.campaign_exposure_id,
        exposures.campaign_id,
        exposures.customer_id,
        exposures.experiment_group,
        exposures.experiment_group = 'treatment' as is_treatment,
        exposures.assigned_at,
        exposures.sent_at,
        exposures.channel,
        exposure_snapshots.snapshot_date
    from exposures
    left join exposure_snapshots
        on exposures.campaign_exposure_id = exposure_snapshots.campaign_exposure_id
)

select * from exposures_dated
