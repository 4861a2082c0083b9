{#- Population stability index (PSI) per task, model version in use and input feature, and
    for the score (feature_name '__score__', kind 'score'): the sum of the per-bin
    contributions in feature_drift_bins, with the drift status the task's psi_warn and
    psi_fail define (var tasks; default the vars psi_warn and psi_fail). -#}
with

drift_bins as (
    select * from {{ ref('feature_drift_bins') }}
),

task_thresholds as (
    {%- for task in monitored_tasks() %}
    {%- set config = task_config(task) %}
    select
        '{{ task }}' as task,
        cast({{ config.get('psi_warn', var('psi_warn')) }} as double) as psi_warn,
        cast({{ config.get('psi_fail', var('psi_fail')) }} as double) as psi_fail
    {{ 'union all' if not loop.last }}
    {%- endfor %}
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
        task_thresholds.psi_warn,
        task_thresholds.psi_fail,
        case
            when stability_per_feature.psi >= task_thresholds.psi_fail then 'fail'
            when stability_per_feature.psi >= task_thresholds.psi_warn then 'warn'
            else 'stable'
        end as drift_status
    from stability_per_feature
    inner join task_thresholds on stability_per_feature.task = task_thresholds.task
)

select * from with_status
