{{ clean_rows(ref('int_contract_exceptions_validated')) }}
