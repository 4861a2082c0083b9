{% test quarantine_reason_extends_row_check(model) %}
{#- A validated row keeps its own check failure as its quarantine reason; a row that passed
    its own checks can only be held back as an orphan. Fails with the rows that break this. -#}
select *
from {{ model }}
where
    (row_check_failure is not null and quarantine_reason is distinct from row_check_failure)
    or (
        row_check_failure is null
        and quarantine_reason is not null
        and quarantine_reason not like 'orphan\_%' escape '\'
    )
{% endtest %}
