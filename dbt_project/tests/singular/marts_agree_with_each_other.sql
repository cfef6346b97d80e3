-- Two marts, one truth: the target-attainment intensity equals the dual-control totals over their
-- denominators, and the dual-control energy equals the sum of fct_institution_month.
select a.reporter_code, a.year, a.indicator
from {{ ref('mart_target_attainment') }} as a
join {{ ref('mart_dual_control') }} as d on d.reporter_code = a.reporter_code and d.year = a.year
where abs(a.value - case a.indicator
        when 'energy_per_capita' then d.energy_tce * 1000 / d.headcount_persons
        when 'energy_per_m2' then d.energy_tce * 1000 / d.floor_area_m2
        when 'water_per_capita' then d.water_t / d.headcount_persons
        when 'carbon_per_m2' then d.carbon_tco2 * 1000 / d.floor_area_m2
    end) > 1e-9 * abs(a.value)
union all
select 'GX', f.year, 'energy total'
from (select year, sum(energy_kgce) as energy_kgce from {{ ref('fct_institution_month') }} group by year) as f
join {{ ref('mart_dual_control') }} as d on d.reporter_code = 'GX' and d.year = f.year
where abs(d.energy_tce * 1000 - f.energy_kgce) > 1e-9 * f.energy_kgce
