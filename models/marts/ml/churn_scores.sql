{#- Churn-risk scores for every subscribed customer at the as-of snapshot (see
    macros/task_scoring.sql). -#}
-- depends_on: {{ ref('model_registry') }}
{{ task_scoring('churn') }}
