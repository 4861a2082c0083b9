{#- The lookalike audience: the open leads whose profile looks most like the best customers'
    (lookalike_prospect_scores), among those with marketing consent who are not customers
    yet, the top lookalike_audience_top_fraction by lookalike score (ties: the higher
    acquisition propensity, then lead_id), with the acquisition propensity beside it. -#}
with

scores as (
    select * from {{ ref('lookalike_prospect_scores') }}
),

customer_profiles as (
    select * from {{ ref('lookalike_customer_profiles') }}
),

value_source as (
    select max(seed_value_source) as seed_value_source
    from customer_profiles
),

audience as (
    select
        scores.lead_id,
        scores.snapshot_date,
        scores.eligible_rank as lookalike_rank,
        scores.lookalike_score,
        scores.acquisition_score,
        scores.acquisition_model_version,
        scores.region,
        scores.country_code,
        scores.acquisition_channel as lead_source,
        scores.visits_band,
        scores.email_clicks_band,
        scores.has_marketing_consent,
        value_source.seed_value_source
    from scores
    cross join value_source
    where scores.is_in_audience
)

select * from audience
