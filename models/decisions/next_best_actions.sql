{#- The decision: one row per customer who gets an action at the as-of date, the chosen
    candidate of decision_candidates, routed and dated for the CRM. A rep task (a manual
    channel of contact_policy) goes to the owner team of the first matching routing rule (by
    channel, the customer's region and high-value flag) and is due urgent_due_hours after the
    decision when the customer is high value in the high band (high value at high risk for
    retention), due_hours otherwise; an automated send (email, in_app) is sent on the
    decision day. The decision time is the as-of date (midnight UTC), so a rebuild of the same
    as-of date decides the same. is_fallback marks a customer whose better candidates were
    blocked by the contact policy; fallback_reason names the best of them. "Better" means a
    higher expected incremental profit, the figure decision_candidates chooses by. -#}
with

candidates as (
    select * from {{ ref('decision_candidates') }}
),

audiences as (
    select * from {{ ref('campaign_audiences') }}
),

policy as (
    select * from {{ ref('contact_policy') }}
),

routing_rules as (
    select * from {{ ref('routing_rules') }}
),

customers as (
    select * from {{ ref('customers') }}
),

chosen as (
    select * from candidates
    where candidate_status = 'chosen'
),

better_blocked as (
    select
        candidates.customer_id,
        candidates.campaign_id,
        candidates.next_best_action,
        candidates.action_channel,
        candidates.expected_incremental_profit,
        candidates.candidate_status,
        row_number() over (
            partition by candidates.customer_id
            order by candidates.expected_incremental_profit desc, candidates.campaign_id asc
        ) as blocked_rank
    from candidates
    inner join chosen
        on
            candidates.customer_id = chosen.customer_id
            and candidates.expected_incremental_profit > chosen.expected_incremental_profit
    where
        candidates.candidate_status in (
            'excluded', 'opted_out_channel', 'no_email_address', 'capped', 'cooling_down',
            'no_channel_policy'
        )
),

candidate_counts as (
    select
        customer_id,
        count(*) as candidates_count
    from candidates
    group by customer_id
),

decided as (
    select
        chosen.*,
        audiences.is_incremental_profit,
        audiences.is_high_value,
        audiences.segment,
        audiences.recommended_addon_category,
        audiences.recommended_product_id,
        audiences.recommended_product_name,
        audiences.reason_1,
        audiences.reason_2,
        audiences.reason_3,
        customers.region,
        policy.is_manual,
        policy.is_manual and audiences.is_high_value and chosen.band = 'high' as is_urgent,
        case
            when policy.is_manual and audiences.is_high_value and chosen.band = 'high'
                then policy.urgent_due_hours
            else policy.due_hours
        end as due_hours,
        cast(chosen.snapshot_date as timestamp) as decided_at
    from chosen
    inner join audiences
        on
            chosen.customer_id = audiences.customer_id
            and chosen.campaign_id = audiences.campaign_id
    inner join policy on chosen.action_channel = policy.channel
    inner join customers on chosen.customer_id = customers.customer_id
),

routed as (
    select
        decided.customer_id,
        decided.campaign_id,
        routing_rules.routing_priority,
        routing_rules.owner_team,
        row_number() over (
            partition by decided.customer_id
            order by routing_rules.routing_priority
        ) as routing_rank
    from decided
    inner join routing_rules
        on
            decided.action_channel = routing_rules.channel
            and (routing_rules.region is null or decided.region = routing_rules.region)
            and (routing_rules.is_high_value is null or decided.is_high_value = routing_rules.is_high_value)
),

final as (
    select
        md5(
            cast(decided.snapshot_date as varchar) || ':' || cast(decided.customer_id as varchar)
            || ':' || decided.campaign_id || ':' || decided.next_best_action
        ) as decision_id,
        decided.customer_id,
        decided.campaign_id,
        decided.task,
        decided.next_best_action,
        decided.action_channel as channel,
        decided.band,
        decided.score,
        decided.expected_profit,
        decided.is_incremental_profit,
        decided.expected_incremental_profit,
        decided.incremental_share,
        decided.incrementality_source,
        routed.owner_team,
        {{ dbt.dateadd('hour', 'decided.due_hours', 'decided.decided_at') }} as due_at,
        case when not decided.is_manual then cast(decided.decided_at as date) end as send_date,
        case
            when decided.is_urgent then 1
            when decided.is_manual then 2
            else 3
        end as priority,
        decided.reason_1,
        decided.reason_2,
        decided.reason_3,
        decided.region,
        decided.segment,
        decided.is_high_value,
        decided.recommended_addon_category,
        decided.recommended_product_id,
        decided.recommended_product_name,
        decided.snapshot_date,
        decided.decided_at,
        decided.model_version,
        decided.next_best_action_rule,
        decided.policy_version,
        decided.action_priority,
        routed.routing_priority as routing_rule,
        candidate_counts.candidates_count,
        better_blocked.customer_id is not null as is_fallback,
        case
            when better_blocked.customer_id is not null
                then
                    better_blocked.campaign_id || ' (' || better_blocked.next_best_action || ' by '
                    || better_blocked.action_channel || ', expected incremental profit '
                    || cast(round(better_blocked.expected_incremental_profit, 2) as varchar)
                    || ') was '
                    || better_blocked.candidate_status
        end as fallback_reason
    from decided
    left join routed
        on
            decided.customer_id = routed.customer_id
            and routed.routing_rank = 1
    left join better_blocked
        on
            decided.customer_id = better_blocked.customer_id
            and better_blocked.blocked_rank = 1
    inner join candidate_counts on decided.customer_id = candidate_counts.customer_id
)

select * from final
