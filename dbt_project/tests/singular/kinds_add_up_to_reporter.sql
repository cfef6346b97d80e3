-- Broken down by institution kind, a reporter's (and GX's) totals add up to its totals.
with kinds as (
    select reporter_code, year, sum(energy_kgce) as energy_kgce, sum(water_t) as water_t,
           sum(carbon_kgco2) as carbon_kgco2, sum(headcount_persons) as headcount_persons
    from {{ ref('int_reporter_kind_year') }}
    group by reporter_code, year
)

select t.reporter_code, t.year
from {{ ref('int_reporter_year') }} as t
left join kinds as k on k.reporter_code = t.reporter_code and k.year = t.year
where k.reporter_code is null
   or abs(k.energy_kgce - t.energy_kgce) > 1e-9 * greatest(abs(t.energy_kgce), 1)
   or abs(k.water_t - t.water_t) > 1e-9 * greatest(abs(t.water_t), 1)
   or abs(k.carbon_kgco2 - t.carbon_kgco2) > 1e-9 * greatest(abs(t.carbon_kgco2), 1)
   or abs(k.headcount_persons - t.headcount_persons) > 1e-9 * greatest(abs(t.headcount_persons), 1)
