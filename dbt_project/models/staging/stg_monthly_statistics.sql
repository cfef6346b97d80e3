-- Monthly rows of live batches only, typed, with units in the column names.
select
    m.upload_id,
    m.source_row,
    m.reporter_code,
    m.credit_code,
    m.institution_name,
    m.institution_kind as institution_subkind,
    m.period_month::date as period_month,
    extract(year from m.period_month)::integer as year,
    extract(month from m.period_month)::integer as month,
    m.headcount::numeric as headcount_persons,
    m.floor_area_m2::numeric as floor_area_m2,
    coalesce(m.electricity_kwh, 0)::numeric as electricity_kwh,
    coalesce(m.water_t, 0)::numeric as water_t,
    coalesce(m.natural_gas_m3, 0)::numeric as natural_gas_m3,
    coalesce(m.lpg_kg, 0)::numeric as lpg_kg,
    coalesce(m.coal_kg, 0)::numeric as coal_kg,
    coalesce(m.gasoline_l, 0)::numeric as gasoline_l,
    coalesce(m.diesel_l, 0)::numeric as diesel_l,
    coalesce(m.heat_gj, 0)::numeric as heat_gj,
    coalesce(m.pv_kwh, 0)::numeric as pv_kwh
from {{ source('raw', 'monthly_statistics') }} as m
join {{ ref('stg_upload_log') }} as u on u.upload_id = m.upload_id
where u.is_live
