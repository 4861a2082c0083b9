{% macro task_config(task) -%}
    {#- A task's declaration from var tasks with its defaults filled in. A task is declared,
        not coded: its entity (customer or prospect), objective (classification or
        regression), label model and label column, label window, the feature relation and
        the candidate model families; the machinery (training set, scoring, reasons,
        monitoring, report) reads it from here. -#}
    {%- set tasks = var('tasks') -%}
    {%- if task not in tasks -%}
        {{ exceptions.raise_compiler_error("var tasks has no task " ~ task ~ "; declared: " ~ tasks | list | join(', ')) }}
    {%- endif -%}
    {%- set settings = tasks[task] -%}
    {%- set entity = settings.get('entity', 'customer') -%}
    {%- if entity not in ('customer', 'prospect') -%}
        {{ exceptions.raise_compiler_error("var tasks: " ~ task ~ ".entity must be customer or prospect, not " ~ entity) }}
    {%- endif -%}
    {%- set entity_column = 'customer_id' if entity == 'customer' else 'lead_id' -%}
    {%- set config = {
        'task': task,
        'entity': entity,
        'entity_column': entity_column,
        'objective': 'classification',
        'key_columns': [entity_column],
        'features_model': 'customer_feature_snapshots' if entity == 'customer' else 'prospect_feature_snapshots',
        'label_model': 'int_' ~ task ~ '_labels',
        'families': ['logistic_regression', 'hist_gradient_boosting'],
        'baselines': {},
    } -%}
    {%- if settings.get('objective') == 'regression' -%}
        {%- do config.update({'families': ['poisson_regression', 'poisson_gradient_boosting']}) -%}
    {%- endif -%}
    {%- do config.update(settings) -%}
    {%- for required in ('label_column', 'label_window_days') -%}
        {%- if required not in config -%}
            {{ exceptions.raise_compiler_error("var tasks: " ~ task ~ " has no " ~ required) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if config.objective not in ('classification', 'regression') -%}
        {{ exceptions.raise_compiler_error("var tasks: " ~ task ~ ".objective must be classification or regression") }}
    {%- endif -%}
    {%- if entity_column not in config.key_columns -%}
        {{ exceptions.raise_compiler_error("var tasks: " ~ task ~ ".key_columns must include " ~ entity_column) }}
    {%- endif -%}
    {{- return(config) -}}
{%- endmacro %}

{% macro task_keys(task) -%}
    {#- The columns that identify one scored row of a task: its key columns and snapshot_date. -#}
    {{- return(task_config(task).key_columns + ['snapshot_date']) -}}
{%- endmacro %}

{% macro join_on_columns(left, right, columns) -%}
    {#- "left.c = right.c and ..." over a list of columns. -#}
    {%- for column in columns -%}
        {{ left }}.{{ column }} = {{ right }}.{{ column }}{{ ' and ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{% macro entity_key(relation, columns) -%}
    {#- One text key for a row of any task: its key columns (not snapshot_date) joined by '|'. -#}
    {%- for column in columns -%}
        cast({{ relation }}.{{ column }} as {{ dbt.type_string() }}){{ " || '|' || " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{% macro qualified_columns(relation, columns) -%}
    {#- "relation.a, relation.b" for a list of columns (relation may be empty: "a, b"). -#}
    {%- for column in columns -%}
        {{ relation ~ '.' if relation }}{{ column }}{{ ', ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{% macro tasks_with_objective(objective) -%}
    {#- The declared tasks of one objective (classification or regression), in var order. -#}
    {%- set selected = [] -%}
    {%- for task in var('tasks') -%}
        {%- if task_config(task).objective == objective -%}
            {%- do selected.append(task) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(selected) -}}
{%- endmacro %}

{% macro audience_tasks() -%}
    {#- The customer classification tasks campaigns can target (see audience_scores). -#}
    {%- set selected = [] -%}
    {%- for task in tasks_with_objective('classification') -%}
        {%- if task_config(task).entity == 'customer' -%}
            {%- do selected.append(task) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(selected) -}}
{%- endmacro %}
