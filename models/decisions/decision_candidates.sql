{#- Every candidate action the decisioning layer considered: one row per campaign_audiences
    row (customer and active campaign) with the one status that decided it. In order:
    control_group (held out of this campaign's contact; other campaigns may still reach the
    customer), no_action (the rule says no_contact, or no rule matched), not_profitable
    (expected incremental profit <= 0: the conversions the contact causes do not pay for it,
    however large the gross expected profit), then the contact policy on the action's channel
    (excluded, opted_out_channel, no_email_address, capped, cooling_down, no_channel_policy),
    and among the eligible rest: the chosen one (the best expected incremental profit;
    candidates within decision_near_tie_profit of it count as tied and the lowest
    action_priority wins), lower_priority (a near tie that lost on priority) or
    lower_expected_profit (a lower expected incremental profit). -#}
with

audiences as (
    select * from {{ ref('campaign_audiences') }}
),

campaigns as (
    select * from {{ ref('campaigns') }}
),

priorities as (
    select * from {{ ref('action_priorities') }}
),

eligibility as (
    select * from {{ ref('customer_contact_eligibility') }}
),

candidates as (
    select
        audiences.customer_id,
        audiences.campaign_id,
        campaigns.task,
        audiences.snapshot_date,
        audiences.model_version,
        audiences.next_best_action,
        audiences.next_best_action_rule,
        audiences.action_channel,
        audiences.score,
        audiences.decile,
        audiences.band,
        audiences.expected_value,
        audiences.expected_profit,
        audiences.expected_incremental_profit,
        audiences.incremental_share,
        audiences.incrementality_source,
        audiences.experiment_group,
        priorities.action_priority,
        eligibility.policy_version,
        eligibility.contacts_in_window,
        eligibility.days_since_last_contact,
        case
            when audiences.experiment_group = 'control' then 'control_group'
            when audiences.next_best_action in ('no_contact', 'no_rule_matched') then 'no_action'
            when audiences.expected_incremental_profit <= 0 then 'not_profitable'
            when eligibility.channel is null then 'no_channel_policy'
            else eligibility.blocking_reason
        end as blocked_status,
        case
            when audiences.experiment_group = 'control'
                then 'control group of ' || audiences.campaign_id
            when audiences.next_best_action in ('no_contact', 'no_rule_matched')
                then
                    'rule ' || coalesce(cast(audiences.next_best_action_rule as varchar), 'none')
                    || ' gives ' || audiences.next_best_action
            when audiences.expected_incremental_profit <= 0
                then
                    'expected incremental profit '
                    || cast(round(audiences.expected_incremental_profit, 2) as varchar)
                    || ' not positive (share ' || cast(round(audiences.incremental_share, 3) as varchar)
                    || ' ' || audiences.incrementality_source || ')'
            when eligibility.channel is null then 'no contact_policy row for ' || audiences.action_channel
            when eligibility.blocking_reason = 'excluded' then eligibility.exclusion_reasons
            when eligibility.blocking_reason = 'capped'
                then
                    cast(eligibility.contacts_in_window as varchar) || ' ' || eligibility.channel
                    || ' contacts in ' || cast(eligibility.window_days as varchar) || ' days (cap '
                    || cast(eligibility.max_contacts as varchar) || ')'
            when eligibility.blocking_reason = 'cooling_down'
                then
                    'last contact ' || cast(eligibility.days_since_last_contact as varchar)
                    || ' days before (cool-down ' || cast(eligibility.cooldown_days as varchar) || ')'
            when eligibility.blocking_reason is not null
                then eligibility.blocking_reason || ' on ' || eligibility.channel
        end as blocked_detail
    from audiences
    inner join campaigns on audiences.campaign_id = campaigns.campaign_id
    left join priorities
        on
            campaigns.task = priorities.task
            and audiences.next_best_action = priorities.next_best_action
    left join eligibility
        on
            audiences.customer_id = eligibility.customer_id
            and audiences.action_channel = eligibility.channel
),

eligible_best as (
    select
        customer_id,
        max(expected_incremental_profit) as best_expected_incremental_profit
    from candidates
    where blocked_status is null
    group by customer_id
),

eligible_tied as (
    select
        candidates.*,
        candidates.expected_incremental_profit
        >= eligible_best.best_expected_incremental_profit - {{ var('decision_near_tie_profit') }}
            as is_near_tie
    from candidates
    inner join eligible_best on candidates.customer_id = eligible_best.customer_id
    where candidates.blocked_status is null
),

eligible_ranked as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by
                case when is_near_tie then action_priority end asc nulls last,
                expected_incremental_profit desc,
                campaign_id asc
        ) as candidate_rank
    from eligible_tied
),

chosen as (
    select
        customer_id,
        campaign_id,
        action_priority,
        expected_incremental_profit
    from eligible_ranked
    where candidate_rank = 1
),

final as (
    select
        candidates.customer_id,
        candidates.campaign_id,
        candidates.task,
        candidates.snapshot_date,
        candidates.model_version,
        candidates.next_best_action,
        candidates.next_best_action_rule,
        candidates.action_channel,
        candidates.score,
        candidates.decile,
        candidates.band,
        candidates.expected_value,
        candidates.expected_profit,
        candidates.expected_incremental_profit,
        candidates.incremental_share,
        candidates.incrementality_source,
        candidates.experiment_group,
        candidates.action_priority,
        candidates.policy_version,
        candidates.contacts_in_window,
        candidates.days_since_last_contact,
        eligible_ranked.candidate_rank,
        case
            when candidates.blocked_status is not null then candidates.blocked_status
            when eligible_ranked.candidate_rank = 1 then 'chosen'
            when eligible_ranked.is_near_tie and eligible_ranked.action_priority > chosen.action_priority
                then 'lower_priority'
            else 'lower_expected_profit'
        end as candidate_status,
        case
            when candidates.blocked_status is not null then candidates.blocked_detail
            when eligible_ranked.candidate_rank = 1 then 'best eligible candidate'
            else
                'lost to ' || chosen.campaign_id || ' (expected incremental profit '
                || cast(round(chosen.expected_incremental_profit, 2) as varchar) || ', action priority '
                || cast(chosen.action_priority as varchar) || ')'
        end as status_detail
    from candidates
    left join eligible_ranked
        on
            candidates.customer_id = eligible_ranked.customer_id
            and candidates.campaign_id = eligible_ranked.campaign_id
    left join chosen on candidates.customer_id = chosen.customer_id
)

select * from final
