{#- Up-sell scores for every eligible customer at the as-of snapshot, computed in SQL from
    the registered model. No Python runs here. -#}
-- depends_on: {{ ref('model_registry') }}

with

population as (
    select customer_id, snapshot_date
    from {{ ref('int_upsell_labels') }}
    where snapshot_date = (select max(snapshot_date) from {{ ref('int_snapshot_dates') }})
),

scored as (
    {{ score_population('upsell', ref('customer_feature_snapshots'), 'population') }}
)

select * from scored
