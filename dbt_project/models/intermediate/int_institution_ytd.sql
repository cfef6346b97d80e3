-- One row per basis (int_ytd_month_rows), reporter, institution, year and month-end (through_month = 1…12, up
-- to the year's last month with data): the sums of the institution's rows from January to through_month and its
-- denominators (mean monthly headcount and floor area over those months) — int_institution_year's definitions,
-- cut at each month-end.
with month_ends as (
    select year, generate_series(1, max(month)) as through_month
    from {{ ref('int_institution_month') }}
    group by year
)

select
    m.basis,
    m.reporter_code,
    m.credit_code,
    m.year,
    e.through_month,
    max(m.institution_kind) as institution_kind,
    count(*) as months_reported,
    avg(m.headcount_persons) as headcount_persons_mean,
    avg(m.floor_area_m2) as floor_area_m2_mean,
    sum(m.energy_kgce) as energy_kgce,
    sum(m.water_t) as water_t,
    sum(m.carbon_kgco2) as carbon_kgco2
from month_ends as e
join {{ ref('int_ytd_month_rows') }} as m on m.year = e.year and m.month <= e.through_month
group by m.basis, m.reporter_code, m.credit_code, m.year, e.through_month
