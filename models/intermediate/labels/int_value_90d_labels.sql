{#- The value_90d task's population and label (see macros/customer_value_labels.sql). -#}
{{ customer_value_labels('value_90d') }}
