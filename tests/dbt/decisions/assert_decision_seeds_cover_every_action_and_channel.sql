{#- The decisioning seeds cover the rules: returns every action of next_best_action_rules
    (no_contact aside) without an action_priorities row, every action channel without a
    contact_policy row, and every policy channel without a catch-all routing rule. -#}
with

rules as (
    select * from {{ ref('next_best_action_rules') }}
),

priorities as (
    select * from {{ ref('action_priorities') }}
),

policy as (
    select * from {{ ref('contact_policy') }}
),

routing_rules as (
    select * from {{ ref('routing_rules') }}
),

gaps as (
    select
        'no action_priorities row' as gap,
        rules.task || ' ' || rules.next_best_action as item
    from rules
    where
        rules.next_best_action != 'no_contact'
        and not exists (
            select 1
            from priorities
            where
                priorities.task = rules.task
                and priorities.next_best_action = rules.next_best_action
        )

    union all

    select
        'no contact_policy row' as gap,
        rules.action_channel as item
    from rules
    where
        rules.next_best_action != 'no_contact'
        and rules.action_channel not in (select policy.channel from policy)

    union all

    select
        'no catch-all routing rule' as gap,
        policy.channel as item
    from policy
    where not exists (
        select 1
        from routing_rules
        where
            routing_rules.channel = policy.channel
            and routing_rules.region is null
            and routing_rules.is_high_value is null
    )
)

select * from gaps
