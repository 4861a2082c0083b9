{#- The value_365d task's labelled rows (see macros/task_training_set.sql). -#}
{{ task_training_set('value_365d') }}
