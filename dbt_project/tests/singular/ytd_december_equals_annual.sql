-- The year-to-date figure through December is the annual figure: same value, prior value, change and verdict
-- for every reporter (and GX), year and indicator of mart_target_attainment, in every year with December data.
select a.reporter_code, a.year, a.indicator
from {{ ref('mart_target_attainment') }} as a
left join {{ ref('mart_ytd_attainment') }} as y
  on y.reporter_code = a.reporter_code and y.year = a.year and y.indicator = a.indicator and y.through_month = 12
where a.year in (select year from {{ ref('mart_ytd_attainment') }} where through_month = 12)
  and (y.reporter_code is null
   or abs(y.value - a.value) > 1e-9 * greatest(abs(a.value), 1)
   or (y.prior_value is null) <> (a.prior_value is null)
   or abs(y.prior_value - a.prior_value) > 1e-9 * greatest(abs(a.prior_value), 1)
   or abs(y.yoy_change - a.yoy_change) > 1e-9
   or y.attained is distinct from a.attained)
