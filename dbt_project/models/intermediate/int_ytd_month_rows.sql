-- The institution-month rows the year-to-date figures are built from, on three bases:
--   'all'     every row (the annual definitions: mart_ytd_attainment's value and prior_value);
--   'current' year Y's rows whose institution also reported that month in Y − 1;
--   'prior'   Y − 1's rows whose institution also reported that month in Y, labelled with Y (the year they
--             are compared with) — 'current' against 'prior' is the like-for-like comparison.
with months as (
    select reporter_code, credit_code, year, month, institution_kind, headcount_persons, floor_area_m2,
           energy_kgce, water_t, carbon_kgco2
    from {{ ref('int_institution_month') }}
),

pairs as (
    select cur.credit_code, cur.year, cur.month
    from months as cur
    join months as prev on prev.credit_code = cur.credit_code and prev.year = cur.year - 1 and prev.month = cur.month
)

select 'all'::text as basis, m.* from months as m
union all
select 'current', m.*
from months as m
join pairs as p on p.credit_code = m.credit_code and p.year = m.year and p.month = m.month
union all
select 'prior', m.reporter_code, m.credit_code, m.year + 1, m.month, m.institution_kind, m.headcount_persons,
       m.floor_area_m2, m.energy_kgce, m.water_t, m.carbon_kgco2
from months as m
join pairs as p on p.credit_code = m.credit_code and p.year = m.year + 1 and p.month = m.month
