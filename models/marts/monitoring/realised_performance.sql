{#- How the scores actually performed: per task, model version and scored snapshot in
    score_history, the scores against the labels that have matured since (the task's
    training set holds the complete labels of the current snapshot grid). Only matured
    rows count in the metrics; scored rows without a matured label are labels_pending.
    ROC-AUC is rank-based (Mann-Whitney U, tied scores share their average rank). -#}
with

score_history as (
    select * from {{ ref('score_history') }}
    where objective = 'classification'
),

snapshots as (
    select * from {{ ref('int_snapshot_dates') }}
),

snapshot_grid as (
    select min(snapshot_date) as first_snapshot_date
    from snapshots
),
{%- set classification_tasks = tasks_with_objective('classification') %}
{% for task in classification_tasks %}
{{ task }}_training_rows as (
    select * from {{ ref(task ~ '_training_set') }}
),
{% endfor %}
matured_labels as (
    {%- for task in classification_tasks %}
    {%- set config = task_config(task) %}
    select
        '{{ task }}' as task,
        {{ entity_key('training_rows', config.key_columns) }} as entity_key,
        training_rows.snapshot_date,
        cast(training_rows.{{ config.label_column }} as integer) as label_value
    from {{ task }}_training_rows as training_rows
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

scored_rows as (
    select
        score_history.task,
        score_history.model_version,
        score_history.snapshot_date,
        score_history.entity_key,
        score_history.score,
        score_history.scored_at,
        matured_labels.label_value
    from score_history
    left join matured_labels
        on
            score_history.task = matured_labels.task
            and score_history.entity_key = matured_labels.entity_key
            and score_history.snapshot_date = matured_labels.snapshot_date
),

labelled_rows_ranked as (
    select
        task,
        model_version,
        snapshot_date,
        entity_key,
        score,
        label_value,
        -- average rank of tied scores: the lowest rank plus half the other ties
        rank() over batch_by_score
        + (count(*) over (partition by task, model_version, snapshot_date, score) - 1) / 2.0
            as score_rank,
        ntile(10) over (
            partition by task, model_version, snapshot_date
            order by score desc, entity_key asc
        ) as decile
    from scored_rows
    where label_value is not null
    window batch_by_score as (
        partition by task, model_version, snapshot_date
        order by score
    )
),

labelled_summary as (
    select
        task,
        model_version,
        snapshot_date,
        count(*) as labelled_rows,
        sum(label_value) as positives,
        avg(score) as mean_score,
        sum(case when label_value = 1 then score_rank else 0 end) as positive_rank_sum,
        sum(case when decile = 1 then 1 else 0 end) as top_decile_rows,
        sum(case when decile = 1 then label_value else 0 end) as top_decile_positives
    from labelled_rows_ranked
    group by task, model_version, snapshot_date
),

scored_summary as (
    select
        task,
        model_version,
        snapshot_date,
        count(*) as scored_rows,
        sum(case when label_value is null then 1 else 0 end) as labels_pending,
        max(scored_at) as scored_at
    from scored_rows
    group by task, model_version, snapshot_date
),

batch_metrics as (
    select
        scored_summary.task,
        scored_summary.model_version,
        scored_summary.snapshot_date,
        scored_summary.scored_at,
        scored_summary.scored_rows,
        scored_summary.labels_pending,
        scored_summary.snapshot_date < snapshot_grid.first_snapshot_date as is_before_snapshot_grid,
        coalesce(labelled_summary.labelled_rows, 0) as labelled_rows,
        coalesce(labelled_summary.positives, 0) as positives,
        labelled_summary.mean_score,
        1.0 * labelled_summary.positives / labelled_summary.labelled_rows as realised_rate,
        case
            when labelled_summary.positives between 1 and labelled_summary.labelled_rows - 1
                then
                    (
                        labelled_summary.positive_rank_sum
                        - labelled_summary.positives * (labelled_summary.positives + 1) / 2.0
                    )
                    / (
                        1.0 * labelled_summary.positives
                        * (labelled_summary.labelled_rows - labelled_summary.positives)
                    )
        end as roc_auc,
        1.0 * labelled_summary.top_decile_positives / labelled_summary.top_decile_rows
            as top_decile_precision
    from scored_summary
    cross join snapshot_grid
    left join labelled_summary
        on
            scored_summary.task = labelled_summary.task
            and scored_summary.model_version = labelled_summary.model_version
            and scored_summary.snapshot_date = labelled_summary.snapshot_date
),

performance as (
    select
        task,
        model_version,
        snapshot_date,
        scored_at,
        case
            when is_before_snapshot_grid then 'expired'
            when labelled_rows = 0 then 'pending'
            when labels_pending > 0 then 'partial'
            else 'matured'
        end as label_status,
        cast(scored_rows as bigint) as scored_rows,
        cast(labelled_rows as bigint) as labelled_rows,
        cast(labels_pending as bigint) as labels_pending,
        cast(positives as bigint) as positives,
        cast(mean_score as double) as mean_score,
        cast(realised_rate as double) as realised_rate,
        cast(roc_auc as double) as roc_auc,
        cast(top_decile_precision as double) as top_decile_precision,
        cast(top_decile_precision / nullif(realised_rate, 0) as double) as top_decile_lift,
        cast(mean_score / nullif(realised_rate, 0) as double) as calibration_ratio
    from batch_metrics
)

select * from performance
