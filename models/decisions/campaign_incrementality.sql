{#- The share of each active campaign's expected conversions that the contact causes, and
    where that share comes from (doc campaign_incrementality):
    - uplift_model: the campaign's task has objective uplift, its score already is the
      incremental probability: share 1;
    - readouts: the complete, trustworthy read-outs (no pending exposures, no sample ratio
      mismatch, both arms observed, a positive standard error) of past randomised campaigns
      with the same seed task and readout_metric, their absolute lifts pooled by inverse
      variance (fixed effect; the standard error is the read-out's Wald interval / 2 z), the
      arms' rates pooled by arm size. Share = pooled lift / pooled treatment rate (treated
      conversions the contact caused); for churn = (control churn - treatment churn) /
      control churn (cancellations the contact prevented). The interval divides the pooled
      lift's 95% interval the same way; everything clipped to [0, 1] and, like the read-outs,
      rounded to 12 decimals;
    - assumed: no such read-out: var decision_default_incremental_share. -#}
{%- set z = normal_quantile_975() %}
with

campaigns as (
    select * from {{ ref('campaigns') }}
    where is_active
),

tasks as (
    select * from {{ ref('ml_tasks') }}
),

readouts as (
    select * from {{ ref('campaign_readouts') }}
),

campaigns_typed as (
    select
        campaigns.campaign_id,
        campaigns.task,
        campaigns.readout_metric,
        tasks.objective,
        coalesce(tasks.objective, '') = 'uplift' as is_uplift
    from campaigns
    left join tasks on campaigns.task = tasks.task
),

trusted_readouts as (
    select
        campaign_id,
        task,
        readout_metric,
        treatment_customers,
        control_customers,
        treatment_conversion_rate,
        control_conversion_rate,
        absolute_lift,
        (absolute_lift_ci_upper - absolute_lift_ci_lower) / (2 * {{ z }}) as lift_standard_error
    from readouts
    where
        pending_exposures_count = 0
        and not has_sample_ratio_mismatch
        and treatment_customers > 0
        and control_customers > 0
        and absolute_lift_ci_upper > absolute_lift_ci_lower
),

pooled_per_campaign as (
    select
        campaigns.campaign_id,
        count(*) as readouts_count,
        {{ dbt.listagg('trusted_readouts.campaign_id', "','", 'order by trusted_readouts.campaign_id') }}
            as readout_campaign_ids,
        sum(trusted_readouts.absolute_lift / power(trusted_readouts.lift_standard_error, 2))
        / sum(1 / power(trusted_readouts.lift_standard_error, 2)) as pooled_absolute_lift,
        sqrt(1 / sum(1 / power(trusted_readouts.lift_standard_error, 2)))
            as pooled_lift_standard_error,
        sum(trusted_readouts.treatment_conversion_rate * trusted_readouts.treatment_customers)
        / sum(trusted_readouts.treatment_customers) as pooled_treatment_rate,
        sum(trusted_readouts.control_conversion_rate * trusted_readouts.control_customers)
        / sum(trusted_readouts.control_customers) as pooled_control_rate
    from campaigns_typed as campaigns
    inner join trusted_readouts
        on
            campaigns.task = trusted_readouts.task
            and campaigns.readout_metric = trusted_readouts.readout_metric
    where not campaigns.is_uplift
    group by campaigns.campaign_id
),

estimated as (
    select
        *,
        pooled_absolute_lift - {{ z }} * pooled_lift_standard_error as pooled_lift_ci_lower,
        pooled_absolute_lift + {{ z }} * pooled_lift_standard_error as pooled_lift_ci_upper,
        {{ two_sided_p_value('pooled_absolute_lift / pooled_lift_standard_error') }}
            as pooled_p_value
    from pooled_per_campaign
),

shares_raw as (
    -- the contact's effect in the good direction, over the rate the caused conversions are
    -- part of: the treated conversions (treatment rate), or the cancellations that would have
    -- happened without it (control churn rate)
    select
        estimated.*,
        case when campaigns.readout_metric = 'churn' then -1 else 1 end
        / nullif(
            case
                when campaigns.readout_metric = 'churn' then estimated.pooled_control_rate
                else estimated.pooled_treatment_rate
            end,
            0
        ) as lift_to_share
    from estimated
    inner join campaigns_typed as campaigns on estimated.campaign_id = campaigns.campaign_id
),

shares as (
    select
        campaign_id,
        readouts_count,
        readout_campaign_ids,
        pooled_absolute_lift,
        pooled_lift_ci_lower,
        pooled_lift_ci_upper,
        pooled_p_value,
        pooled_treatment_rate,
        pooled_control_rate,
        pooled_absolute_lift * lift_to_share as raw_share,
        least(pooled_lift_ci_lower * lift_to_share, pooled_lift_ci_upper * lift_to_share)
            as raw_share_low,
        greatest(pooled_lift_ci_lower * lift_to_share, pooled_lift_ci_upper * lift_to_share)
            as raw_share_high
    from shares_raw
    where lift_to_share is not null
),

final as (
    select
        campaigns.campaign_id,
        campaigns.task,
        campaigns.objective,
        campaigns.readout_metric,
        case
            when campaigns.is_uplift then 'uplift_model'
            when shares.campaign_id is not null then 'readouts'
            else 'assumed'
        end as incrementality_source,
        cast(case
            when campaigns.is_uplift then 1.0
            when shares.campaign_id is not null
                then round(greatest(0.0, least(1.0, shares.raw_share)), 12)
            else {{ var('decision_default_incremental_share') }}
        end as double) as incremental_share,
        -- (least and greatest skip nulls: clip only where there is an estimate)
        cast(case
            when shares.campaign_id is not null
                then round(greatest(0.0, least(1.0, shares.raw_share_low)), 12)
        end as double) as incremental_share_low,
        cast(case
            when shares.campaign_id is not null
                then round(greatest(0.0, least(1.0, shares.raw_share_high)), 12)
        end as double) as incremental_share_high,
        cast(round(shares.raw_share, 12) as double) as unclipped_incremental_share,
        cast(coalesce(shares.readouts_count, 0) as bigint) as readouts_count,
        shares.readout_campaign_ids,
        cast(round(shares.pooled_absolute_lift, 12) as double) as pooled_absolute_lift,
        cast(round(shares.pooled_lift_ci_lower, 12) as double) as pooled_lift_ci_lower,
        cast(round(shares.pooled_lift_ci_upper, 12) as double) as pooled_lift_ci_upper,
        cast(shares.pooled_p_value as double) as pooled_p_value,
        coalesce(shares.pooled_p_value < 0.05, false) as is_significant,
        cast(round(shares.pooled_treatment_rate, 12) as double) as pooled_treatment_rate,
        cast(round(shares.pooled_control_rate, 12) as double) as pooled_control_rate
    from campaigns_typed as campaigns
    left join shares on campaigns.campaign_id = shares.campaign_id
)

select * from final
