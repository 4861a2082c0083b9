{% macro check_model_features(model, features_relation) -%}
    {#- Fail with the names of the columns a model needs that the feature table lacks. -#}
    {%- set available = adapter.get_columns_in_relation(features_relation)
        | map(attribute='name') | map('lower') | list -%}
    {%- set missing = model.feature_columns | reject('in', available) | list -%}
    {%- if missing -%}
        {{ exceptions.raise_compiler_error(
            "Model " ~ model.model_version ~ " needs feature columns missing from "
            ~ features_relation ~ ": " ~ missing | join(', ')
            ~ ". Retrain (dbt build --vars '{retrain: true}') or restore the columns.") }}
    {%- endif -%}
{%- endmacro %}
