{#- The power each read-out had: for every campaign with complete outcomes in both groups
    and a control rate above 0, the chance that its two-sided pooled z-test at 0.05, on the
    arms it observed, detects the minimum effect of interest, a relative change of var
    readout_minimum_relative_effect of the control rate in the good direction (up; down for
    churn). Same formula as `propensity power` (python/propensity/power.py):
    Phi((|d| - z se0) / se1) + Phi((-|d| - z se0) / se1). A "no detectable effect" verdict
    with low power says the test was too small, not that the campaign does nothing. -#}
{%- set minimum_effect = var('readout_minimum_relative_effect') -%}
{%- set z = normal_quantile_975() -%}
with

readouts as (
    select * from {{ ref('campaign_readouts') }}
    where
        treatment_customers > 0
        and control_customers > 0
        and control_conversion_rate > 0
),

targets as (
    select
        campaign_id,
        readout_metric,
        treatment_customers,
        control_customers,
        control_conversion_rate as baseline_rate,
        cast({{ minimum_effect }} as double) as minimum_relative_effect,
        least(
            control_conversion_rate
            * (1 + {{ minimum_effect }} * (case when readout_metric = 'churn' then -1 else 1 end)),
            1.0
        ) as target_rate
    from readouts
),

pooled as (
    select
        *,
        abs(target_rate - baseline_rate) as minimum_effect_size,
        (control_customers * baseline_rate + treatment_customers * target_rate)
        / (control_customers + treatment_customers) as pooled_rate
    from targets
),

errors as (
    select
        *,
        sqrt(pooled_rate * (1 - pooled_rate) * (1.0 / control_customers + 1.0 / treatment_customers))
            as null_standard_error,
        sqrt(
            baseline_rate * (1 - baseline_rate) / control_customers
            + target_rate * (1 - target_rate) / treatment_customers
        ) as effect_standard_error
    from pooled
),

standardised as (
    select
        *,
        (minimum_effect_size - {{ z }} * null_standard_error) / effect_standard_error
            as detection_z,
        (-minimum_effect_size - {{ z }} * null_standard_error) / effect_standard_error
            as wrong_direction_z
    from errors
),

powered as (
    select
        campaign_id,
        readout_metric,
        treatment_customers,
        control_customers,
        baseline_rate,
        minimum_relative_effect,
        round(target_rate, 12) as target_rate,
        round({{ normal_cdf('detection_z') }} + {{ normal_cdf('wrong_direction_z') }}, 12)
            as power
    from standardised
),

final as (
    select
        *,
        power >= 0.8 as is_adequately_powered
    from powered
)

select * from final
