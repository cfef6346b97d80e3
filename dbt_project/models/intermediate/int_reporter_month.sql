-- One row per reporter (and GX), year and month: the month's totals and the month's denominators (Σ headcount
-- and floor area of the institutions reporting that month) — the monthly intensities whose year-on-year ratios
-- measure how steady a reporter's trend is (the projection's interval).
with by_reporter as (
    select
        reporter_code, year, month,
        sum(energy_kgce) as energy_kgce,
        sum(water_t) as water_t,
        sum(carbon_kgco2) as carbon_kgco2,
        sum(headcount_persons) as headcount_persons,
        sum(floor_area_m2) as floor_area_m2
    from {{ ref('int_institution_month') }}
    group by reporter_code, year, month
)

select * from by_reporter
union all
select 'GX'::text, year, month, sum(energy_kgce), sum(water_t), sum(carbon_kgco2), sum(headcount_persons),
       sum(floor_area_m2)
from by_reporter
group by year, month
