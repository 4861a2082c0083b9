{#- Each customer's subscription state at each snapshot: the plan in force strictly before
    the snapshot (the newest plan change before it, else the initial plan), its tier, the
    initial plan's tier, the upgrades so far, and whether the subscription is active. Plan
    changes are bucketed into snapshot periods once, then the newest one is carried forward
    and the upgrades are summed forward. -#}
with

subscriptions as (
    select * from {{ ref('subscriptions') }}
),

plan_changes as (
    select * from {{ ref('plan_changes') }}
),

plan_tiers as (
    select * from {{ ref('plan_tiers') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

changes_sequenced as (
    select
        plan_changes.*,
        coalesce(to_tiers.tier_rank > from_tiers.tier_rank, false) as is_upgrade,
        row_number() over (
            partition by plan_changes.subscription_id
            order by plan_changes.changed_at, plan_changes.plan_change_id
        ) as change_sequence
    from plan_changes
    left join plan_tiers as from_tiers on plan_changes.from_plan = from_tiers.plan_code
    left join plan_tiers as to_tiers on plan_changes.to_plan = to_tiers.plan_code
),

change_periods as (
    select
        changes_sequenced.subscription_id,
        snapshots.snapshot_date,
        max(changes_sequenced.change_sequence) as last_change_sequence,
        sum(case when changes_sequenced.is_upgrade then 1 else 0 end) as upgrades_count
    from changes_sequenced
    inner join snapshots
        on
            changes_sequenced.changed_at >= cast(snapshots.period_start_date as timestamp)
            and changes_sequenced.changed_at < cast(snapshots.snapshot_date as timestamp)
    group by 1, 2
),

subscription_grid as (
    select
        subscriptions.subscription_id,
        subscriptions.customer_id,
        subscriptions.initial_plan,
        subscriptions.started_at,
        subscriptions.cancelled_at,
        snapshots.snapshot_date
    from subscriptions
    inner join snapshots
        on subscriptions.started_at < cast(snapshots.snapshot_date as timestamp)
),

carried_forward as (
    select
        subscription_grid.*,
        max(change_periods.last_change_sequence) over subscription_history
            as last_change_sequence,
        cast(coalesce(sum(change_periods.upgrades_count) over subscription_history, 0) as bigint)
            as upgrades_count
    from subscription_grid
    left join change_periods
        on
            subscription_grid.subscription_id = change_periods.subscription_id
            and subscription_grid.snapshot_date = change_periods.snapshot_date
    window subscription_history as (
        partition by subscription_grid.subscription_id
        order by subscription_grid.snapshot_date
        rows between unbounded preceding and current row
    )
),

with_plan as (
    select
        carried_forward.customer_id,
        carried_forward.snapshot_date,
        carried_forward.subscription_id,
        coalesce(changes_sequenced.to_plan, carried_forward.initial_plan) as plan_code,
        coalesce(changes_sequenced.changed_at, carried_forward.started_at) as plan_started_at,
        carried_forward.started_at as subscription_started_at,
        carried_forward.initial_plan,
        carried_forward.upgrades_count,
        carried_forward.cancelled_at is null
        or carried_forward.cancelled_at >= cast(carried_forward.snapshot_date as timestamp)
            as is_subscription_active
    from carried_forward
    left join changes_sequenced
        on
            carried_forward.subscription_id = changes_sequenced.subscription_id
            and carried_forward.last_change_sequence = changes_sequenced.change_sequence
),

ranked as (
    select
        with_plan.*,
        plan_tiers.tier_rank as plan_tier_rank,
        initial_tiers.tier_rank as initial_plan_tier_rank,
        row_number() over (
            partition by with_plan.customer_id, with_plan.snapshot_date
            order by
                with_plan.is_subscription_active desc,
                with_plan.subscription_started_at desc,
                with_plan.subscription_id desc
        ) as subscription_rank
    from with_plan
    left join plan_tiers on with_plan.plan_code = plan_tiers.plan_code
    left join plan_tiers as initial_tiers on with_plan.initial_plan = initial_tiers.plan_code
)

select
    customer_id,
    snapshot_date,
    subscription_id,
    plan_code,
    plan_tier_rank,
    plan_started_at,
    subscription_started_at,
    initial_plan_tier_rank,
    upgrades_count,
    is_subscription_active
from ranked
where subscription_rank = 1
