{#- The acquisition task's labelled rows (see macros/task_training_set.sql). -#}
{{ task_training_set('acquisition') }}
