{#- The up-sell uplift task's experiment rows (see macros/uplift_training_set.sql). -#}
{{ uplift_training_set('upsell_uplift') }}
