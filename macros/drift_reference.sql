{% macro drift_reference() -%}
    {#- Which training rows feature drift compares the as-of snapshot with, from the var
        drift_reference: last_training_snapshot (default; the newest snapshot the model was
        fitted on) or training_snapshots (every training snapshot, pooled). -#}
    {%- set reference = var('drift_reference', 'last_training_snapshot') -%}
    {%- if reference not in ('last_training_snapshot', 'training_snapshots') -%}
        {{ exceptions.raise_compiler_error(
            "var drift_reference is '" ~ reference
            ~ "'; use last_training_snapshot or training_snapshots") }}
    {%- endif -%}
    {{- return(reference) -}}
{%- endmacro %}
