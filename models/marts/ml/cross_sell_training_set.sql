{#- The cross-sell task's labelled rows (see macros/task_training_set.sql). -#}
{{ task_training_set('cross_sell') }}
