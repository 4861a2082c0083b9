{#- The up-sell task's labelled rows: features at each snapshot with the label of the window
    after it, for the eligible population and only where the whole window is observed. The
    segments at the snapshot come along for the per-segment evaluation. -#}
with

features as (
    select * from {{ ref('customer_feature_snapshots') }}
),

labels as (
    select * from {{ ref('int_upsell_labels') }}
),

segments as (
    select * from {{ ref('customer_segments') }}
),

training_rows as (
    select
        features.*,
        segments.lifecycle_segment,
        segments.is_high_value,
        segments.is_engagement_driven,
        labels.label_window_end_date,
        labels.has_upgraded
    from features
    inner join labels
        on
            features.customer_id = labels.customer_id
            and features.snapshot_date = labels.snapshot_date
    inner join segments
        on
            features.customer_id = segments.customer_id
            and features.snapshot_date = segments.snapshot_date
    where labels.is_label_complete
)

select * from training_rows
