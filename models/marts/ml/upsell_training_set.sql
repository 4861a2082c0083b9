{#- The up-sell task's labelled rows: features at each snapshot with the label of the window
    after it, for the eligible population and only where the whole window is observed. -#}
with

features as (
    select * from {{ ref('customer_feature_snapshots') }}
),

labels as (
    select * from {{ ref('int_upsell_labels') }}
),

training_rows as (
    select
        features.*,
        labels.label_window_end_date,
        labels.has_upgraded
    from features
    inner join labels
        on
            features.customer_id = labels.customer_id
            and features.snapshot_date = labels.snapshot_date
    where labels.is_label_complete
)

select * from training_rows
