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
    {%- if settings.get('objective') == 'uplift' -%}
        {{- return(uplift_task_config(task, settings)) -}}
    {%- endif -%}
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

{% macro uplift_task_config(task, settings) -%}
    {#- An uplift task: who a campaign moves, learned from the randomised exposures of the
        campaigns (seed campaigns) whose task is its base_task. It takes the base task's
        entity, keys, features, label and population (its scores cover the base task's as-of
        population) and adds treatment_column (campaign_exposures.is_treatment). -#}
    {%- set base_task = settings.get('base_task') -%}
    {%- if base_task is none or base_task not in var('tasks') -%}
        {{ exceptions.raise_compiler_error("var tasks: " ~ task ~ ".base_task must name a declared task, not " ~ base_task) }}
    {%- endif -%}
    {%- set base = task_config(base_task) -%}
    {%- if base.objective != 'classification' or base.entity != 'customer' or base.key_columns != ['customer_id'] -%}
        {{ exceptions.raise_compiler_error("var tasks: " ~ task ~ ".base_task must be a customer classification task keyed by customer_id") }}
    {%- endif -%}
    {%- set config = {} -%}
    {%- do config.update(base) -%}
    {%- do config.update({
        'task': task,
        'objective': 'uplift',
        'base_task': base_task,
        'treatment_column': 'is_treatment',
        'families': ['logistic_regression', 'logistic_regression_strong', 'hist_gradient_boosting'],
        'baselines': {},
    }) -%}
    {%- do config.update(settings) -%}
    {{- return(config) -}}
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
    {#- The customer tasks campaigns can target (see audience_scores): classification (a
        probability) and uplift (an incremental probability). -#}
    {%- set selected = [] -%}
    {%- for task in var('tasks') if task_config(task).objective in ('classification', 'uplift') -%}
        {%- if task_config(task).entity == 'customer' -%}
            {%- do selected.append(task) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(selected) -}}
{%- endmacro %}

{% macro monitored_tasks() -%}
    {#- The tasks the drift monitor and score reasons cover: all but uplift tasks, whose
        features are their base task's (monitored there) and whose model has no per-feature
        explanation. -#}
    {%- set selected = [] -%}
    {%- for task in var('tasks') if task_config(task).objective != 'uplift' -%}
        {%- do selected.append(task) -%}
    {%- endfor -%}
    {{- return(selected) -}}
{%- endmacro %}
