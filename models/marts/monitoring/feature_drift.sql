{#- Population stability index (PSI) per task, model version in use and input feature, and
    for the score (feature_name '__score__', kind 'score'): the sum of the per-bin
    contributions in feature_drift_bins, with the drift status the vars psi_warn and
    psi_fail define. -#}
with

drift_bins as (
    select * from {{ ref('feature_drift_bins') }}
),

stability_per_feature as (
    select
        task,
        model_version,
        feature_name,
        kind,
        snapshot_date,
        reference_snapshot_start,
        reference_snapshot_end,
        sum(expected_rows) as expected_rows,
        sum(actual_rows) as actual_rows,
        sum(case when bin_number > 0 then 1 else 0 end) as value_bins_count,
        sum(case when bin_number = 0 then expected_share else 0 end) as expected_missing_share,
        sum(case when bin_number = 0 then actual_share else 0 end) as actual_missing_share,
        sum(psi_contribution) as psi
    from drift_bins
    group by
        task,
        model_version,
        feature_name,
        kind,
        snapshot_date,
        reference_snapshot_start,
        reference_snapshot_end
),

with_status as (
    select
        stability_per_feature.task,
        stability_per_feature.model_version,
        stability_per_feature.feature_name,
        stability_per_feature.kind,
        stability_per_feature.snapshot_date,
        stability_per_feature.reference_snapshot_start,
        stability_per_feature.reference_snapshot_end,
        cast(stability_per_feature.expected_rows as bigint) as expected_rows,
        cast(stability_per_feature.actual_rows as bigint) as actual_rows,
        cast(stability_per_feature.value_bins_count as integer) as value_bins_count,
        cast(stability_per_feature.expected_missing_share as double) as expected_missing_share,
        cast(stability_per_feature.actual_missing_share as double) as actual_missing_share,
        cast(stability_per_feature.psi as double) as psi,
        case
            when stability_per_feature.psi >= {{ var('psi_fail') }} then 'fail'
            when stability_per_feature.psi >= {{ var('psi_warn') }} then 'warn'
            else 'stable'
        end as drift_status
    from stability_per_feature
)

select * from with_status
