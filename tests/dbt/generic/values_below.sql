{% test values_below(model, column_name, threshold) %}
{#- Fails with every row whose value reaches threshold (value >= threshold); nulls pass. -#}
select *
from {{ model }}
where {{ column_name }} >= {{ threshold }}
{% endtest %}
