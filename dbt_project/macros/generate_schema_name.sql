{#- Use a model's custom schema as-is (staging, intermediate, marts, reference) instead of dbt's default
    `<target schema>_<custom>`: the schemas are a contract (grants, analysts' queries, the circular). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
