{#- Predicted up-sell uplift for every customer of the up-sell as-of population (see
    macros/task_scoring.sql): score = P(upgrade | contacted) - P(upgrade | not), may be
    negative. -#}
-- depends_on: {{ ref('model_registry') }}
{{ task_scoring('upsell_uplift') }}
