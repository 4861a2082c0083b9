{#- One row per campaign found in campaign_exposures: did the treatment move the campaign's
    readout_metric, at what cost in guardrails, and can the split be trusted? Only exposures
    whose outcome window has closed are counted (pending ones are counted apart).
    - conversion: int_campaign_metric_tests for the readout_metric (lift, 95% intervals,
      pooled z-test p-value);
    - revenue per customer per arm (net completed orders) with a Welch 95% interval on the
      difference (Welch-Satterthwaite degrees of freedom), average order value per arm;
    - guardrails: churn and refund rates per arm; breached when significantly (p < 0.05)
      higher in treatment (churn is no guardrail of a campaign whose metric is churn);
    - sample ratio mismatch: a chi-square test (1 df) of every assigned exposure's split
      against the campaign's holdout_percent, flagged below var
      readout_srm_p_value_threshold;
    - verdict: the first that applies of pending, sample ratio mismatch, guardrail breached,
      significant lift / reduction (the good direction: down for churn), significantly
      worse, no detectable effect.
    Figures are rounded to 12 decimals, as in int_campaign_metric_tests. -#}
{%- set srm_threshold = var('readout_srm_p_value_threshold') -%}
with

outcomes as (
    select * from {{ ref('campaign_exposure_outcomes') }}
),

campaigns as (
    select * from {{ ref('campaigns') }}
),

metric_tests as (
    select * from {{ ref('int_campaign_metric_tests') }}
    where segment_type = 'all'
),

assignments as (
    select
        campaign_id,
        min(snapshot_date) as first_snapshot_date,
        max(snapshot_date) as last_snapshot_date,
        count(*) as exposures_count,
        sum(case when is_treatment then 1 else 0 end) as treatment_exposures_count,
        sum(case when is_treatment then 0 else 1 end) as control_exposures_count,
        sum(case when is_outcome_complete then 0 else 1 end) as pending_exposures_count
    from outcomes
    group by campaign_id
),

revenue_per_arm as (
    select
        campaign_id,
        is_treatment,
        count(*) as customers_count,
        avg(revenue) as revenue_per_customer,
        var_samp(revenue) as revenue_variance,
        sum(revenue) as revenue,
        sum(orders_count) as orders_count
    from outcomes
    where is_outcome_complete
    group by campaign_id, is_treatment
),

revenue_compared as (
    select
        treatment.campaign_id,
        treatment.revenue_per_customer as treatment_revenue_per_customer,
        control.revenue_per_customer as control_revenue_per_customer,
        treatment.revenue_per_customer - control.revenue_per_customer as revenue_difference,
        treatment.revenue_variance / treatment.customers_count as treatment_mean_variance,
        control.revenue_variance / control.customers_count as control_mean_variance,
        treatment.revenue / nullif(treatment.orders_count, 0) as treatment_average_order_value,
        control.revenue / nullif(control.orders_count, 0) as control_average_order_value,
        treatment.customers_count - 1 as treatment_degrees_of_freedom,
        control.customers_count - 1 as control_degrees_of_freedom
    from revenue_per_arm as treatment
    inner join revenue_per_arm as control
        on
            treatment.campaign_id = control.campaign_id
            and treatment.is_treatment
            and not control.is_treatment
),

revenue_welch as (
    select
        *,
        sqrt(treatment_mean_variance + control_mean_variance) as revenue_difference_standard_error,
        power(treatment_mean_variance + control_mean_variance, 2)
        / nullif(
            power(treatment_mean_variance, 2) / nullif(treatment_degrees_of_freedom, 0)
            + power(control_mean_variance, 2) / nullif(control_degrees_of_freedom, 0),
            0
        ) as revenue_welch_degrees_of_freedom
    from revenue_compared
),

revenue_intervals as (
    select
        *,
        {{ student_t_quantile_975('revenue_welch_degrees_of_freedom') }}
        * revenue_difference_standard_error as revenue_difference_margin
    from revenue_welch
),

sample_ratios as (
    select
        assignments.*,
        campaigns.task,
        campaigns.readout_metric,
        campaigns.readout_window_days,
        campaigns.holdout_percent / 100.0 as expected_control_share,
        cast(assignments.control_exposures_count as double) / assignments.exposures_count
            as observed_control_share,
        power(
            assignments.control_exposures_count
            - assignments.exposures_count * campaigns.holdout_percent / 100.0,
            2
        ) / nullif(assignments.exposures_count * campaigns.holdout_percent / 100.0, 0)
        + power(
            assignments.treatment_exposures_count
            - assignments.exposures_count * (1 - campaigns.holdout_percent / 100.0),
            2
        ) / nullif(assignments.exposures_count * (1 - campaigns.holdout_percent / 100.0), 0)
            as sample_ratio_chi_square
    from assignments
    left join campaigns on assignments.campaign_id = campaigns.campaign_id
),

sample_ratio_tests as (
    select
        *,
        {{ chi_square_1_p_value('sample_ratio_chi_square') }} as sample_ratio_p_value
    from sample_ratios
),

readouts as (
    select
        sample_ratio_tests.campaign_id,
        sample_ratio_tests.task,
        sample_ratio_tests.readout_metric,
        sample_ratio_tests.readout_window_days,
        sample_ratio_tests.first_snapshot_date,
        sample_ratio_tests.last_snapshot_date,
        cast(sample_ratio_tests.exposures_count as bigint) as exposures_count,
        cast(sample_ratio_tests.treatment_exposures_count as bigint) as treatment_exposures_count,
        cast(sample_ratio_tests.control_exposures_count as bigint) as control_exposures_count,
        cast(sample_ratio_tests.pending_exposures_count as bigint) as pending_exposures_count,
        coalesce(conversion_test.treatment_customers, 0) as treatment_customers,
        coalesce(conversion_test.control_customers, 0) as control_customers,
        sample_ratio_tests.expected_control_share,
        round(sample_ratio_tests.observed_control_share, 12) as observed_control_share,
        round(sample_ratio_tests.sample_ratio_chi_square, 12) as sample_ratio_chi_square,
        round(sample_ratio_tests.sample_ratio_p_value, 12) as sample_ratio_p_value,
        coalesce(
            sample_ratio_tests.sample_ratio_p_value < {{ srm_threshold }}, false
        ) as has_sample_ratio_mismatch,
        conversion_test.treatment_conversions,
        conversion_test.control_conversions,
        conversion_test.treatment_rate as treatment_conversion_rate,
        conversion_test.control_rate as control_conversion_rate,
        conversion_test.absolute_lift,
        conversion_test.absolute_lift_ci_lower,
        conversion_test.absolute_lift_ci_upper,
        conversion_test.relative_lift,
        conversion_test.relative_lift_ci_lower,
        conversion_test.relative_lift_ci_upper,
        conversion_test.z_statistic,
        conversion_test.p_value,
        coalesce(conversion_test.p_value < 0.05, false) as is_significant,
        round(revenue_intervals.treatment_revenue_per_customer, 12)
            as treatment_revenue_per_customer,
        round(revenue_intervals.control_revenue_per_customer, 12)
            as control_revenue_per_customer,
        round(revenue_intervals.revenue_difference, 12) as revenue_difference,
        round(
            revenue_intervals.revenue_difference - revenue_intervals.revenue_difference_margin, 12
        ) as revenue_difference_ci_lower,
        round(
            revenue_intervals.revenue_difference + revenue_intervals.revenue_difference_margin, 12
        ) as revenue_difference_ci_upper,
        round(revenue_intervals.revenue_welch_degrees_of_freedom, 12)
            as revenue_welch_degrees_of_freedom,
        round(revenue_intervals.treatment_average_order_value, 12)
            as treatment_average_order_value,
        round(revenue_intervals.control_average_order_value, 12) as control_average_order_value,
        churn_test.treatment_rate as treatment_churn_rate,
        churn_test.control_rate as control_churn_rate,
        churn_test.absolute_lift as churn_rate_difference,
        churn_test.p_value as churn_p_value,
        coalesce(
            sample_ratio_tests.readout_metric != 'churn'
            and churn_test.absolute_lift > 0
            and churn_test.p_value < 0.05,
            false
        ) as is_churn_guardrail_breached,
        refund_test.treatment_rate as treatment_refund_rate,
        refund_test.control_rate as control_refund_rate,
        refund_test.absolute_lift as refund_rate_difference,
        refund_test.p_value as refund_p_value,
        coalesce(refund_test.absolute_lift > 0 and refund_test.p_value < 0.05, false)
            as is_refund_guardrail_breached
    from sample_ratio_tests
    left join metric_tests as conversion_test
        on
            sample_ratio_tests.campaign_id = conversion_test.campaign_id
            and sample_ratio_tests.readout_metric = conversion_test.metric
    left join metric_tests as churn_test
        on
            sample_ratio_tests.campaign_id = churn_test.campaign_id
            and churn_test.metric = 'churn'
    left join metric_tests as refund_test
        on
            sample_ratio_tests.campaign_id = refund_test.campaign_id
            and refund_test.metric = 'refund'
    left join revenue_intervals
        on sample_ratio_tests.campaign_id = revenue_intervals.campaign_id
),

verdicts as (
    select
        *,
        case
            when treatment_customers = 0 or control_customers = 0
                then 'pending: no complete outcomes in both groups'
            when has_sample_ratio_mismatch then 'sample ratio mismatch: do not trust'
            when is_churn_guardrail_breached or is_refund_guardrail_breached
                then 'guardrail breached'
            when is_significant and readout_metric = 'churn' and absolute_lift < 0
                then 'significant reduction'
            when is_significant and readout_metric != 'churn' and absolute_lift > 0
                then 'significant lift'
            when is_significant then 'significantly worse'
            else 'no detectable effect'
        end as verdict
    from readouts
)

select * from verdicts
