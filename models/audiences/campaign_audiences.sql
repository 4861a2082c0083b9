{#- The campaign audiences: one row per customer in each active campaign, ready to send.
    Scores (audience_scores: one per task and customer) are ranked into deciles over the
    task's whole scored population; suppressed customers are removed; each customer's value
    of a conversion comes from the campaign's value_source (a fixed value, the recommended
    product's price, or a value task's predicted revenue for that customer), so expected
    value = score x value and expected profit = expected value x margin - cost per contact
    (incremental for an uplift task, whose score is the predicted uplift; such a campaign
    never takes a customer with uplift <= 0); expected incremental profit counts only the
    share of the expected conversions the contact causes (campaign_incrementality: 1 for an
    uplift task, else measured by past read-outs or assumed), the figure decisions choose by;
    the campaign ranks by score or by expected value (rank_by) and its audience rule picks
    who is in, at most max_contacts of them; next-best-action rules choose the action; a
    hash of customer and campaign assigns the control group. -#}
with

campaigns as (
    select * from {{ ref('campaigns') }}
    where is_active
),

rules as (
    select * from {{ ref('next_best_action_rules') }}
),

segments as (
    select * from {{ ref('customer_segments') }}
),

suppressions as (
    select * from {{ ref('campaign_suppressions') }}
),

reasons as (
    select * from {{ ref('score_reasons') }}
),

scores as (
    select * from {{ ref('audience_scores') }}
),

predicted_values as (
    select * from {{ ref('customer_predicted_values') }}
),

incrementality as (
    select * from {{ ref('campaign_incrementality') }}
),

scores_ranked as (
    select
        *,
        ntile(10) over (partition by task order by score desc, customer_id asc) as decile
    from scores
),

candidates_valued as (
    select
        campaigns.campaign_id,
        campaigns.task,
        campaigns.channel as campaign_channel,
        campaigns.audience_rule,
        campaigns.audience_rule_value,
        campaigns.max_contacts,
        campaigns.holdout_percent,
        campaigns.rank_by,
        campaigns.margin_rate,
        campaigns.cost_per_contact,
        incrementality.incremental_share,
        incrementality.incrementality_source,
        scores_ranked.customer_id,
        scores_ranked.snapshot_date,
        scores_ranked.model_version,
        scores_ranked.score,
        -- an uplift task's score is the predicted uplift: its value and profit are incremental
        scores_ranked.objective = 'uplift' as is_incremental_profit,
        scores_ranked.decile,
        scores_ranked.entity_key,
        scores_ranked.recommended_category,
        scores_ranked.recommended_product_id,
        scores_ranked.recommended_product_name,
        -- the value of a conversion for this customer; the fixed value when the source has none
        coalesce(
            case
                when campaigns.value_source = 'product_price' then scores_ranked.item_value
                when campaigns.value_source != 'fixed' then predicted_values.predicted_value
            end,
            campaigns.value_per_conversion
        ) as conversion_value
    from campaigns
    inner join scores_ranked on campaigns.task = scores_ranked.task
    inner join incrementality on campaigns.campaign_id = incrementality.campaign_id
    left join predicted_values
        on
            campaigns.value_source = predicted_values.task
            and scores_ranked.customer_id = predicted_values.customer_id
),

candidates as (
    select
        *,
        score * conversion_value as expected_value,
        score * conversion_value * margin_rate - cost_per_contact as expected_profit,
        score * incremental_share * conversion_value * margin_rate - cost_per_contact
            as expected_incremental_profit
    from candidates_valued
    where not exists (
        select 1
        from suppressions
        where
            suppressions.campaign_id = candidates_valued.campaign_id
            and suppressions.customer_id = candidates_valued.customer_id
    )
),

candidates_ranked as (
    select
        *,
        row_number() over (
            partition by campaign_id
            order by
                case when rank_by = 'expected_value' then expected_value else score end desc,
                customer_id asc
        ) as audience_rank,
        count(*) over (partition by campaign_id) as candidates_count
    from candidates
),

selected as (
    select *
    from candidates_ranked
    where
        -- an uplift campaign never contacts a customer it is not predicted to move
        not (is_incremental_profit and score <= 0)
        and (
            (audience_rule = 'all')
            or (audience_rule = 'top_n' and audience_rank <= audience_rule_value)
            or (
                audience_rule = 'top_percent'
                and audience_rank <= ceil(candidates_count * audience_rule_value / 100.0)
            )
            or (audience_rule = 'min_score' and score >= audience_rule_value)
            or (audience_rule = 'max_profit' and expected_profit > 0)
        )
),

within_capacity as (
    select *
    from selected
    where max_contacts is null or audience_rank <= max_contacts
),

banded as (
    select
        selected.*,
        case
            when selected.decile <= {{ var('band_high_max_decile') }} then 'high'
            when selected.decile <= {{ var('band_medium_max_decile') }} then 'medium'
            else 'low'
        end as band,
        segments.segment,
        segments.lifecycle_segment,
        segments.is_high_value,
        segments.is_engagement_driven,
        segments.last_order_category
    from within_capacity as selected
    inner join segments
        on
            selected.customer_id = segments.customer_id
            and selected.snapshot_date = segments.snapshot_date
),

actions_matched as (
    select
        banded.campaign_id,
        banded.customer_id,
        rules.rule_priority,
        rules.next_best_action,
        rules.action_channel,
        row_number() over (
            partition by banded.campaign_id, banded.customer_id
            order by rules.rule_priority
        ) as rule_rank
    from banded
    inner join rules
        on
            banded.task = rules.task
            and (rules.lifecycle_segment is null or banded.lifecycle_segment = rules.lifecycle_segment)
            and (rules.is_high_value is null or banded.is_high_value = rules.is_high_value)
            and (rules.min_decile is null or banded.decile >= rules.min_decile)
            and (rules.max_decile is null or banded.decile <= rules.max_decile)
            and (rules.band is null or banded.band = rules.band)
),

reasons_per_customer as (
    select
        task,
        entity_key,
        snapshot_date,
        max(case when reason_rank = 1 then reason end) as reason_1,
        max(case when reason_rank = 2 then reason end) as reason_2,
        max(case when reason_rank = 3 then reason end) as reason_3
    from reasons
    group by task, entity_key, snapshot_date
),

final as (
    select
        banded.customer_id,
        banded.campaign_id,
        banded.snapshot_date,
        banded.model_version,
        banded.score,
        banded.conversion_value,
        banded.expected_value,
        banded.expected_profit,
        banded.is_incremental_profit,
        banded.expected_incremental_profit,
        banded.incremental_share,
        banded.incrementality_source,
        banded.decile,
        banded.band,
        banded.segment,
        banded.lifecycle_segment,
        banded.is_high_value,
        banded.is_engagement_driven,
        coalesce(actions_matched.next_best_action, 'no_rule_matched') as next_best_action,
        coalesce(actions_matched.action_channel, banded.campaign_channel) as action_channel,
        actions_matched.rule_priority as next_best_action_rule,
        case
            when actions_matched.next_best_action = 'upgrade_with_addon'
                then banded.last_order_category
            else banded.recommended_category
        end as recommended_addon_category,
        banded.recommended_product_id,
        banded.recommended_product_name,
        banded.audience_rank,
        case
            when
                {{ hash_bucket("cast(banded.customer_id as varchar) || ':' || banded.campaign_id", 10000) }}
                < banded.holdout_percent * 100
                then 'control'
            else 'treatment'
        end as experiment_group,
        reasons_per_customer.reason_1,
        reasons_per_customer.reason_2,
        reasons_per_customer.reason_3
    from banded
    left join actions_matched
        on
            banded.campaign_id = actions_matched.campaign_id
            and banded.customer_id = actions_matched.customer_id
            and actions_matched.rule_rank = 1
    left join reasons_per_customer
        on
            banded.task = reasons_per_customer.task
            and banded.entity_key = reasons_per_customer.entity_key
            and banded.snapshot_date = reasons_per_customer.snapshot_date
)

select * from final
