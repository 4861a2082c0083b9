{#- Cross-sell scores for every customer and category they do not own yet, at the as-of
    snapshot (see macros/task_scoring.sql). -#}
-- depends_on: {{ ref('model_registry') }}
{{ task_scoring('cross_sell') }}
