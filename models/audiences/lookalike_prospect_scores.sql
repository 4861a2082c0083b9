{#- Every open lead at the as-of snapshot (the acquisition population) with the profile the
    lookalike compares, each value's index from lookalike_attribute_index and the lookalike
    score: the geometric mean of the indices of the attributes the lead has (exp of the
    mean log index), a naive-Bayes likelihood ratio of "looks like the seed" against "looks
    like an average customer". A value no customer has (webinar) carries no evidence: index
    1; a missing value (no region) is left out of the mean. Eligible leads (marketing
    consent, no customer with the same email) are ranked; lookalike_prospects keeps the
    top of them. -#}
{%- set attributes = lookalike_attributes() %}

with

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
    where is_as_of_snapshot
),

labels as (
    select * from {{ ref('int_acquisition_labels') }}
),

leads as (
    select * from {{ ref('leads') }}
),

features as (
    select * from {{ ref('prospect_feature_snapshots') }}
    where is_as_of_snapshot
),

customers as (
    select * from {{ ref('customers') }}
),

attribute_index as (
    select * from {{ ref('lookalike_attribute_index') }}
),

acquisition_scores as (
    select * from {{ ref('acquisition_scores') }}
),

open_leads as (
    select
        labels.lead_id,
        labels.snapshot_date
    from labels
    inner join snapshots on labels.snapshot_date = snapshots.snapshot_date
),

customer_emails as (
    select distinct {{ normalised_email('email') }} as email
    from customers
    where {{ normalised_email('email') }} is not null
),

profiles as (
    select
        open_leads.lead_id,
        open_leads.snapshot_date,
        leads.region,
        leads.country_code,
        leads.lead_source as acquisition_channel,
        {{ count_band('features.web_visits_count_30d', var('lookalike_visits_bands')) }} as visits_band,
        {{ count_band('features.email_clicks_count_30d', var('lookalike_email_clicks_bands')) }}
            as email_clicks_band,
        leads.has_marketing_consent,
        customer_emails.email is not null as is_existing_customer
    from open_leads
    inner join leads on open_leads.lead_id = leads.lead_id
    left join features
        on
            open_leads.lead_id = features.lead_id
            and open_leads.snapshot_date = features.snapshot_date
    left join customer_emails on {{ normalised_email('leads.email') }} = customer_emails.email
),

indexed as (
    select
        {%- for attribute in attributes %}
        case
            when profiles.{{ attribute }} is not null
                then coalesce({{ attribute }}_values.lookalike_index, 1.0)
        end as {{ attribute }}_index,
        {%- endfor %}
        profiles.*
    from profiles
    {% for attribute in attributes %}
    left join attribute_index as {{ attribute }}_values
        on
            {{ attribute }}_values.attribute_name = '{{ attribute }}'
            and profiles.{{ attribute }} = {{ attribute }}_values.attribute_value
    {% endfor %}
),

scored as (
    select
        indexed.*,
        (
            {%- for attribute in attributes %}
            case when {{ attribute }}_index is not null then 1 else 0 end
            {{- ' +' if not loop.last }}
            {%- endfor %}
        ) as known_attributes_count,
        -- the terms are added in a fixed order so equal profiles get bit-equal scores
        (
            {%- for attribute in attributes %}
            coalesce(ln({{ attribute }}_index), 0)
            {{- ' +' if not loop.last }}
            {%- endfor %}
        ) as log_index_sum
    from indexed
),

with_scores as (
    select
        scored.*,
        coalesce(exp(scored.log_index_sum / nullif(scored.known_attributes_count, 0)), 1.0)
            as lookalike_score,
        acquisition_scores.score as acquisition_score,
        acquisition_scores.model_version as acquisition_model_version,
        scored.has_marketing_consent and not scored.is_existing_customer as is_eligible
    from scored
    left join acquisition_scores
        on
            scored.lead_id = acquisition_scores.lead_id
            and scored.snapshot_date = acquisition_scores.snapshot_date
),

ranked as (
    select
        *,
        case
            when is_eligible
                then row_number() over (
                    partition by is_eligible
                    order by lookalike_score desc, acquisition_score desc nulls last, lead_id asc
                )
        end as eligible_rank,
        sum(case when is_eligible then 1 else 0 end) over () as eligible_count
    from with_scores
),

final as (
    select
        lead_id,
        snapshot_date,
        {%- for attribute in attributes %}
        {{ attribute }},
        {%- endfor %}
        {%- for attribute in attributes %}
        {{ attribute }}_index,
        {%- endfor %}
        known_attributes_count,
        lookalike_score,
        acquisition_score,
        acquisition_model_version,
        has_marketing_consent,
        is_existing_customer,
        is_eligible,
        eligible_rank,
        coalesce(
            eligible_rank <= ceil(eligible_count * {{ var('lookalike_audience_top_fraction') }}),
            false
        ) as is_in_audience
    from ranked
)

select * from final
