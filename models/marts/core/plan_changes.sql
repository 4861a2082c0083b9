{{ clean_rows(ref('int_plan_changes_validated')) }}
