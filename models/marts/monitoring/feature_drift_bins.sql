{#- Population stability per bin of every input feature of each task's model in use and of
    its score. Expected: the model's training population, the task's training rows at the
    model's last training snapshot (var drift_reference: last_training_snapshot, the
    default) or at all its training snapshots pooled (training_snapshots); a deterministic
    hash sample of about the task's max_training_rows when larger. Actual: the as-of snapshot's scored
    population. The bin rules are in the population_stability_bins macro. -#}
-- depends_on: {{ ref('model_registry') }}
{%- set reference = drift_reference() %}

with

registry as (
    select * from {{ ref('model_registry') }}
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

as_of_snapshot as (
    select snapshot_date
    from snapshots
    where is_as_of_snapshot
),
{% for task in monitored_tasks() %}
{%- set model = registered_model(task) %}
{%- set config = task_config(task) %}
{%- set keys = task_keys(task) %}
{%- set max_rows = config.get('max_training_rows', var('max_training_rows')) | int %}
{{ task }}_training_rows as (
    select * from {{ ref(task ~ '_training_set') }}
),

{{ task }}_scores as (
    select * from {{ ref(task ~ '_scores') }}
),

{{ task }}_reference as (
    select
        '{{ task }}' as task,
        model_version,
        {%- if reference == 'training_snapshots' %}
        cast(training_snapshot_start as date) as reference_snapshot_start,
        {%- else %}
        cast(training_snapshot_end as date) as reference_snapshot_start,
        {%- endif %}
        cast(training_snapshot_end as date) as reference_snapshot_end
    from registry
    where model_version = '{{ model.model_version if model is not none else "" }}'
),

{{ task }}_training_population as (
    select
        {{ qualified_columns('training_rows', keys) }}
    from {{ task }}_training_rows as training_rows
    inner join {{ task }}_reference as reference
        on
            training_rows.snapshot_date >= reference.reference_snapshot_start
            and training_rows.snapshot_date <= reference.reference_snapshot_end
),

{{ task }}_training_population_size as (
    select count(*) as rows_count
    from {{ task }}_training_population
),

{{ task }}_expected_population as (
    select
        {{ qualified_columns('training_population', keys) }}
    from {{ task }}_training_population as training_population
    cross join {{ task }}_training_population_size as population_size
    where
        population_size.rows_count <= {{ max_rows }}
        or {{ hash_bucket(
            "(" ~ entity_key('training_population', config.key_columns) ~ ") || ':' || "
            ~ "cast(training_population.snapshot_date as varchar) || ':" ~ var('training_seed') ~ "'",
            1000000
        ) }} < floor(1000000.0 * {{ max_rows }} / population_size.rows_count)
),

{{ task }}_actual_population as (
    select
        {{ qualified_columns('', keys) }}
    from {{ task }}_scores
),

{{ task }}_drift_bins as (
    {{ task_drift_bins(
        task,
        ref(config.features_model),
        task ~ '_expected_population',
        task ~ '_actual_population'
    ) }}
),
{% endfor %}
all_drift_bins as (
    {%- for task in monitored_tasks() %}
    select * from {{ task }}_drift_bins
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

all_references as (
    {%- for task in monitored_tasks() %}
    select * from {{ task }}_reference
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

labelled_bins as (
    select
        all_drift_bins.task,
        all_drift_bins.model_version,
        all_drift_bins.feature_name,
        case when all_drift_bins.feature_name = '__score__' then 'score' else 'feature' end as kind,
        as_of_snapshot.snapshot_date,
        all_references.reference_snapshot_start,
        all_references.reference_snapshot_end,
        cast(all_drift_bins.bin_number as integer) as bin_number,
        all_drift_bins.bin_number = 0 as is_missing_bin,
        cast(all_drift_bins.lower_edge as double) as lower_edge,
        cast(all_drift_bins.upper_edge as double) as upper_edge,
        cast(all_drift_bins.expected_rows as bigint) as expected_rows,
        cast(all_drift_bins.actual_rows as bigint) as actual_rows,
        cast(all_drift_bins.expected_share as double) as expected_share,
        cast(all_drift_bins.actual_share as double) as actual_share,
        cast(all_drift_bins.psi_contribution as double) as psi_contribution
    from all_drift_bins
    inner join all_references
        on
            all_drift_bins.task = all_references.task
            and all_drift_bins.model_version = all_references.model_version
    cross join as_of_snapshot
)

select * from labelled_bins
