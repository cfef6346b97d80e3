-- 双控: totals (energy tce, water t, carbon tCO2) per reporter (and GX) and year, with year-on-year change.
with totals as (
    select
        reporter_code,
        year,
        institutions_reported,
        energy_kgce / 1000 as energy_tce,
        water_t,
        carbon_kgco2 / 1000 as carbon_tco2,
        headcount_persons,
        floor_area_m2
    from {{ ref('int_reporter_year') }}
)

select
    cur.reporter_code,
    r.reporter_name,
    cur.year,
    cur.institutions_reported,
    cur.energy_tce,
    cur.water_t,
    cur.carbon_tco2,
    cur.headcount_persons,
    cur.floor_area_m2,
    prev.energy_tce as prior_energy_tce,
    prev.water_t as prior_water_t,
    prev.carbon_tco2 as prior_carbon_tco2,
    {{ yoy_change('cur.energy_tce', 'prev.energy_tce') }} as energy_yoy_change,
    {{ yoy_change('cur.water_t', 'prev.water_t') }} as water_yoy_change,
    {{ yoy_change('cur.carbon_tco2', 'prev.carbon_tco2') }} as carbon_yoy_change
from totals as cur
left join totals as prev on prev.reporter_code = cur.reporter_code and prev.year = cur.year - 1
join {{ ref('dim_reporter') }} as r on r.reporter_code = cur.reporter_code
