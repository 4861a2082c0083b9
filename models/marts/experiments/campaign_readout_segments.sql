{#- The lift of each campaign's readout_metric within segments of customer_segments at the
    exposure's snapshot (lifecycle_segment; value_segment: high_value or not), from
    int_campaign_metric_tests: customers and conversions per arm, rates, absolute and
    relative lift with 95% intervals and the pooled z-test p-value. Small segments give
    wide intervals; read them as hints, not findings (many segments: some p < 0.05 by
    chance). -#}
with

campaigns as (
    select * from {{ ref('campaigns') }}
),

metric_tests as (
    select * from {{ ref('int_campaign_metric_tests') }}
    where segment_type != 'all'
),

segment_readouts as (
    select
        metric_tests.campaign_id,
        metric_tests.segment_type,
        metric_tests.segment_value,
        metric_tests.metric as readout_metric,
        metric_tests.treatment_customers,
        metric_tests.treatment_conversions,
        metric_tests.control_customers,
        metric_tests.control_conversions,
        metric_tests.treatment_rate as treatment_conversion_rate,
        metric_tests.control_rate as control_conversion_rate,
        metric_tests.absolute_lift,
        metric_tests.absolute_lift_ci_lower,
        metric_tests.absolute_lift_ci_upper,
        metric_tests.relative_lift,
        metric_tests.relative_lift_ci_lower,
        metric_tests.relative_lift_ci_upper,
        metric_tests.z_statistic,
        metric_tests.p_value
    from metric_tests
    inner join campaigns
        on
            metric_tests.campaign_id = campaigns.campaign_id
            and metric_tests.metric = campaigns.readout_metric
)

select * from segment_readouts
