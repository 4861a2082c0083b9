{#- Conversion propensity for every open lead at the as-of snapshot (see
    macros/task_scoring.sql). -#}
-- depends_on: {{ ref('model_registry') }}
{{ task_scoring('acquisition') }}
