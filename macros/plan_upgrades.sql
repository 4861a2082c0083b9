{% macro plan_upgrades(plan_changes, subscriptions, plan_tiers) -%}
    {#- Every upgrade (a plan change to a higher tier_rank) with its customer and time: the
        up-sell rule, shared by the up-sell label and the campaign read-outs. The arguments
        are the names of the caller's import CTEs (so unit tests can give their rows). -#}
    select
        {{ subscriptions }}.customer_id,
        {{ plan_changes }}.changed_at
    from {{ plan_changes }}
    inner join {{ subscriptions }}
        on {{ plan_changes }}.subscription_id = {{ subscriptions }}.subscription_id
    inner join {{ plan_tiers }} as from_tier on {{ plan_changes }}.from_plan = from_tier.plan_code
    inner join {{ plan_tiers }} as to_tier on {{ plan_changes }}.to_plan = to_tier.plan_code
    where to_tier.tier_rank > from_tier.tier_rank
{%- endmacro %}
