-- The whole region (GX) is the sum of its 15 reporters: energy, water, carbon and both denominators.
with reporters as (
    select year, sum(energy_kgce) as energy_kgce, sum(water_t) as water_t, sum(carbon_kgco2) as carbon_kgco2,
           sum(headcount_persons) as headcount_persons, sum(floor_area_m2) as floor_area_m2,
           sum(institutions_reported) as institutions_reported
    from {{ ref('int_reporter_year') }}
    where reporter_code <> 'GX'
    group by year
)

select r.year
from reporters as r
full join (select * from {{ ref('int_reporter_year') }} where reporter_code = 'GX') as g on g.year = r.year
where g.year is null or r.year is null
   or abs(g.energy_kgce - r.energy_kgce) > 1e-9 * greatest(abs(r.energy_kgce), 1)
   or abs(g.water_t - r.water_t) > 1e-9 * greatest(abs(r.water_t), 1)
   or abs(g.carbon_kgco2 - r.carbon_kgco2) > 1e-9 * greatest(abs(r.carbon_kgco2), 1)
   or abs(g.headcount_persons - r.headcount_persons) > 1e-9 * greatest(abs(r.headcount_persons), 1)
   or abs(g.floor_area_m2 - r.floor_area_m2) > 1e-9 * greatest(abs(r.floor_area_m2), 1)
   or g.institutions_reported <> r.institutions_reported
