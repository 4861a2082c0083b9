{#- The value_90d task's labelled rows (see macros/task_training_set.sql). -#}
{{ task_training_set('value_90d') }}
