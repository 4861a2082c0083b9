{#- Up-sell scores for every eligible customer at the as-of snapshot, computed in SQL from
    the registered model. No Python runs here. -#}
-- depends_on: {{ ref('model_registry') }}

with

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

labels as (
    select * from {{ ref('int_upsell_labels') }}
),

population as (
    select
        labels.customer_id,
        labels.snapshot_date
    from labels
    inner join snapshots on labels.snapshot_date = snapshots.snapshot_date
    where snapshots.is_as_of_snapshot
),

scored as (
    {{ score_population('upsell', ref('customer_feature_snapshots'), 'population') }}
)

select * from scored
