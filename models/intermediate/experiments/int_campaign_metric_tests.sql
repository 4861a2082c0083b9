{#- Treatment against control for every campaign, segment and binary outcome (upgrade,
    churn, order, refund), over the exposures whose outcome window has closed: customers and
    conversions per arm, the rates, the absolute lift (treatment - control) with its 95% Wald
    interval (unpooled standard error), the relative lift (treatment / control - 1) with its
    95% interval from the delta method on log(treatment / control), and the two-sided p-value
    of the pooled two-proportion z-test. Segments: all, lifecycle_segment and value_segment
    of customer_segments at the exposure's snapshot ('unknown' without a segment row).
    Figures are rounded to 12 decimals (more carry no meaning; p-values below 5e-13 read 0),
    which also lets unit tests state them exactly. -#}
{%- set metrics = {'upgrade': 'has_upgraded', 'churn': 'has_churned', 'order': 'has_ordered', 'refund': 'has_refund'} -%}
{%- set z = normal_quantile_975() -%}
with

outcomes as (
    select * from {{ ref('campaign_exposure_outcomes') }}
    where is_outcome_complete
),

segments as (
    select * from {{ ref('customer_segments') }}
),

outcomes_segmented as (
    select
        outcomes.*,
        coalesce(segments.lifecycle_segment, 'unknown') as lifecycle_segment,
        case
            when segments.is_high_value then 'high_value'
            when not segments.is_high_value then 'not_high_value'
            else 'unknown'
        end as value_segment
    from outcomes
    left join segments
        on
            outcomes.customer_id = segments.customer_id
            and outcomes.snapshot_date = segments.snapshot_date
),

segment_memberships as (
    {%- for segment_type, segment_value in [('all', "'all'"), ('lifecycle_segment', 'lifecycle_segment'), ('value_segment', 'value_segment')] %}
    select
        campaign_id,
        is_treatment,
        '{{ segment_type }}' as segment_type,
        {{ segment_value }} as segment_value,
        {{ metrics.values() | join(',\n        ') }}
    from outcomes_segmented
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

metric_outcomes as (
    {%- for metric, column in metrics.items() %}
    select
        campaign_id,
        segment_type,
        segment_value,
        is_treatment,
        '{{ metric }}' as metric,
        {{ column }} as has_outcome
    from segment_memberships
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

arm_counts as (
    select
        campaign_id,
        segment_type,
        segment_value,
        metric,
        sum(case when is_treatment then 1 else 0 end) as treatment_customers,
        sum(case when is_treatment and has_outcome then 1 else 0 end) as treatment_conversions,
        sum(case when not is_treatment then 1 else 0 end) as control_customers,
        sum(case when not is_treatment and has_outcome then 1 else 0 end) as control_conversions
    from metric_outcomes
    group by campaign_id, segment_type, segment_value, metric
),

rates as (
    select
        *,
        cast(treatment_conversions as double) / nullif(treatment_customers, 0) as treatment_rate,
        cast(control_conversions as double) / nullif(control_customers, 0) as control_rate,
        cast(treatment_conversions + control_conversions as double)
        / nullif(treatment_customers + control_customers, 0) as pooled_rate
    from arm_counts
),

errors as (
    select
        *,
        treatment_rate - control_rate as absolute_lift,
        sqrt(
            treatment_rate * (1 - treatment_rate) / treatment_customers
            + control_rate * (1 - control_rate) / control_customers
        ) as unpooled_standard_error,
        sqrt(pooled_rate * (1 - pooled_rate) * (1.0 / treatment_customers + 1.0 / control_customers))
            as pooled_standard_error,
        case
            when treatment_rate > 0 and control_rate > 0
                then ln(treatment_rate / control_rate)
        end as log_rate_ratio,
        case
            when treatment_rate > 0 and control_rate > 0
                then sqrt(
                    (1 - treatment_rate) / (treatment_customers * treatment_rate)
                    + (1 - control_rate) / (control_customers * control_rate)
                )
        end as log_rate_ratio_standard_error
    from rates
),

statistics as (
    select
        *,
        -- Both arms at 0% (or both at 100%): no difference and no evidence of one.
        case
            when pooled_standard_error > 0 then absolute_lift / pooled_standard_error
            when pooled_standard_error = 0 then 0.0
        end as z_statistic
    from errors
),

tests as (
    select
        campaign_id,
        segment_type,
        segment_value,
        metric,
        cast(treatment_customers as bigint) as treatment_customers,
        cast(treatment_conversions as bigint) as treatment_conversions,
        cast(control_customers as bigint) as control_customers,
        cast(control_conversions as bigint) as control_conversions,
        round(treatment_rate, 12) as treatment_rate,
        round(control_rate, 12) as control_rate,
        round(absolute_lift, 12) as absolute_lift,
        round(absolute_lift - {{ z }} * unpooled_standard_error, 12) as absolute_lift_ci_lower,
        round(absolute_lift + {{ z }} * unpooled_standard_error, 12) as absolute_lift_ci_upper,
        round(treatment_rate / nullif(control_rate, 0) - 1, 12) as relative_lift,
        round(exp(log_rate_ratio - {{ z }} * log_rate_ratio_standard_error) - 1, 12)
            as relative_lift_ci_lower,
        round(exp(log_rate_ratio + {{ z }} * log_rate_ratio_standard_error) - 1, 12)
            as relative_lift_ci_upper,
        round(z_statistic, 12) as z_statistic,
        round({{ two_sided_p_value('z_statistic') }}, 12) as p_value
    from statistics
)

select * from tests
