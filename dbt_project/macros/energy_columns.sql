{#- The monthly form's consumption columns that convert to standard coal and CO2 (PV is for information only:
    self-generated electricity already reduces the purchased kWh). The names are the raw table's schema,
    not reference data: the coefficients themselves come from the seeds. -#}
{% macro converted_columns() -%}
    {{ return(['electricity_kwh', 'natural_gas_m3', 'lpg_kg', 'coal_kg', 'gasoline_l', 'diesel_l', 'heat_gj']) }}
{%- endmacro %}

{#- value / prior - 1, null when there is no prior or it is zero. -#}
{% macro yoy_change(value, prior) -%}
    ({{ value }}::numeric / nullif({{ prior }}, 0)::numeric - 1)
{%- endmacro %}
