{#- The value_365d task's population and label (see macros/customer_value_labels.sql). -#}
{{ customer_value_labels('value_365d') }}
