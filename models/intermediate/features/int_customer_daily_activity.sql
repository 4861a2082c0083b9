{#- Events pre-aggregated once to one row per customer and activity day: the first step of
    "pre-aggregate, then roll". Days are UTC dates; an event counts for snapshots strictly
    after its day. Counts are bigint and money decimal(18, 4): sums would otherwise widen to
    128 bits, and this table is the widest in the project (65M rows at 1M customers). -#}
with

orders as (
    select * from {{ ref('int_orders_enriched') }}
),

sessions as (
    select * from {{ ref('sessions') }}
),

email_events as (
    select * from {{ ref('email_events') }}
),

support_tickets as (
    select * from {{ ref('support_tickets') }}
),

order_days as (
    select
        customer_id,
        ordered_date as activity_date,
        count(*) as purchases_count,
        sum(order_value) as purchases_amount,
        0 as sessions_count,
        0 as product_clicks_count,
        0 as page_views_count,
        0 as email_sends_count,
        0 as email_opens_count,
        0 as email_clicks_count,
        0 as tickets_opened_count,
        0 as tickets_escalated_count,
        0 as tickets_resolved_count,
        0 as resolution_minutes_sum
    from orders
    group by 1, 2
),

session_days as (
    select
        customer_id,
        cast(started_at as date) as activity_date,
        0 as purchases_count,
        0 as purchases_amount,
        count(*) as sessions_count,
        sum(product_clicks) as product_clicks_count,
        sum(page_views) as page_views_count,
        0 as email_sends_count,
        0 as email_opens_count,
        0 as email_clicks_count,
        0 as tickets_opened_count,
        0 as tickets_escalated_count,
        0 as tickets_resolved_count,
        0 as resolution_minutes_sum
    from sessions
    group by 1, 2
),

email_days as (
    select
        customer_id,
        cast(occurred_at as date) as activity_date,
        0 as purchases_count,
        0 as purchases_amount,
        0 as sessions_count,
        0 as product_clicks_count,
        0 as page_views_count,
        sum(case when event_type = 'send' then 1 else 0 end) as email_sends_count,
        sum(case when event_type = 'open' then 1 else 0 end) as email_opens_count,
        sum(case when event_type = 'click' then 1 else 0 end) as email_clicks_count,
        0 as tickets_opened_count,
        0 as tickets_escalated_count,
        0 as tickets_resolved_count,
        0 as resolution_minutes_sum
    from email_events
    group by 1, 2
),

ticket_events as (
    -- A ticket is three dated facts: opened, escalated, resolved. Each counts on its own
    -- day, so a ticket still open at a snapshot has no resolution time yet.
    select
        customer_id,
        cast(opened_at as date) as activity_date,
        1 as opened,
        0 as escalated,
        0 as resolved,
        0 as resolution_minutes
    from support_tickets
    union all
    select
        customer_id,
        cast(escalated_at as date) as activity_date,
        0 as opened,
        1 as escalated,
        0 as resolved,
        0 as resolution_minutes
    from support_tickets
    where escalated_at is not null
    union all
    select
        customer_id,
        cast(resolved_at as date) as activity_date,
        0 as opened,
        0 as escalated,
        1 as resolved,
        {{ dbt.datediff('opened_at', 'resolved_at', 'minute') }} as resolution_minutes
    from support_tickets
    where resolved_at is not null
),

ticket_days as (
    select
        customer_id,
        activity_date,
        0 as purchases_count,
        0 as purchases_amount,
        0 as sessions_count,
        0 as product_clicks_count,
        0 as page_views_count,
        0 as email_sends_count,
        0 as email_opens_count,
        0 as email_clicks_count,
        sum(opened) as tickets_opened_count,
        sum(escalated) as tickets_escalated_count,
        sum(resolved) as tickets_resolved_count,
        sum(resolution_minutes) as resolution_minutes_sum
    from ticket_events
    group by 1, 2
),

unioned as (
    select * from order_days
    union all
    select * from session_days
    union all
    select * from email_days
    union all
    select * from ticket_days
),

daily as (
    select
        customer_id,
        activity_date,
        cast(sum(purchases_count) as bigint) as purchases_count,
        cast(sum(purchases_amount) as decimal(18, 4)) as purchases_amount,
        cast(sum(sessions_count) as bigint) as sessions_count,
        cast(sum(product_clicks_count) as bigint) as product_clicks_count,
        cast(sum(page_views_count) as bigint) as page_views_count,
        cast(sum(email_sends_count) as bigint) as email_sends_count,
        cast(sum(email_opens_count) as bigint) as email_opens_count,
        cast(sum(email_clicks_count) as bigint) as email_clicks_count,
        cast(sum(tickets_opened_count) as bigint) as tickets_opened_count,
        cast(sum(tickets_escalated_count) as bigint) as tickets_escalated_count,
        cast(sum(tickets_resolved_count) as bigint) as tickets_resolved_count,
        cast(sum(resolution_minutes_sum) as bigint) as resolution_minutes_sum
    from unioned
    group by 1, 2
)

select * from daily
