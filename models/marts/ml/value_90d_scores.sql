{#- Predicted revenue over the next 90 days for every customer at the as-of snapshot (see
    macros/task_scoring.sql). -#}
-- depends_on: {{ ref('model_registry') }}
{{ task_scoring('value_90d') }}
