-- One row per reporter, institution and year: the sums of the year's rows and the denominators
-- (mean monthly headcount and floor area over the months the institution reported).
select
    reporter_code,
    credit_code,
    year,
    max(institution_name) as institution_name,
    max(institution_kind) as institution_kind,
    max(institution_subkind) as institution_subkind,
    max(admin_level) as admin_level,
    bool_or(is_registered) as is_registered,
    count(*) as months_reported,
    avg(headcount_persons) as headcount_persons_mean,
    avg(floor_area_m2) as floor_area_m2_mean,
    sum(energy_kgce) as energy_kgce,
    sum(water_t) as water_t,
    sum(carbon_kgco2) as carbon_kgco2,
    sum(electricity_kwh) as electricity_kwh,
    sum(pv_kwh) as pv_kwh
from {{ ref('int_institution_month') }}
group by reporter_code, credit_code, year
