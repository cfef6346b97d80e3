-- One row per institution and month (live batches), native quantities plus kgce and kgCO2, and the
-- institution's kind (registry first, else the monthly form's 单位类型 mapped through ref_institution_kinds).
with factors as (
    select
        period_month,
        {% for col in converted_columns() %}
        max(kgce_per_native_unit) filter (where raw_column = '{{ col }}') as kgce_per_{{ col }},
        max(kgco2_per_native_unit) filter (where raw_column = '{{ col }}') as kgco2_per_{{ col }},
        {% endfor %}
        max(kg_per_native_unit) filter (where raw_column = 'gasoline_l') as kg_per_gasoline_l,
        max(kg_per_native_unit) filter (where raw_column = 'diesel_l') as kg_per_diesel_l,
        max(co2_factor_year) filter (where raw_column = 'electricity_kwh') as electricity_co2_factor_year
    from {{ ref('int_monthly_conversion_factors') }}
    group by period_month
),

kinds as (
    select institution_subkind, institution_kind from {{ ref('ref_institution_kinds') }}
)

select
    m.credit_code,
    m.reporter_code,
    m.period_month,
    m.year,
    m.month,
    m.institution_name,
    coalesce(r.institution_kind, k.institution_kind) as institution_kind,
    coalesce(r.institution_subkind, m.institution_subkind) as institution_subkind,
    r.admin_level,
    r.credit_code is not null as is_registered,
    m.headcount_persons,
    m.floor_area_m2,
    {% for col in converted_columns() %}
    m.{{ col }},
    {% endfor %}
    m.water_t,
    m.pv_kwh,
    m.gasoline_l * f.kg_per_gasoline_l as gasoline_kg,
    m.diesel_l * f.kg_per_diesel_l as diesel_kg,
    (
        {% for col in converted_columns() %}
        m.{{ col }} * f.kgce_per_{{ col }}{{ ' +' if not loop.last }}
        {% endfor %}
    ) as energy_kgce,
    (
        {% for col in converted_columns() %}
        m.{{ col }} * f.kgco2_per_{{ col }}{{ ' +' if not loop.last }}
        {% endfor %}
    ) as carbon_kgco2,
    f.electricity_co2_factor_year,
    m.upload_id,
    m.source_row
from {{ ref('stg_monthly_statistics') }} as m
join factors as f on f.period_month = m.period_month
left join {{ ref('stg_institution_registry') }} as r on r.credit_code = m.credit_code
left join kinds as k on k.institution_subkind = m.institution_subkind
