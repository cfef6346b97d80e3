-- Year-to-date attainment (累计): the four intensities from January to each month-end, against the same months of
-- the year before and the annual target, per reporter and GX; December equals mart_target_attainment exactly.
with all_rows as (
    select * from {{ ref('int_reporter_ytd') }} where basis = 'all'
),

indicators as (
    {{ unpivot_indicators('all_rows', ['reporter_code', 'year', 'through_month']) }}
),

-- like for like: only institution-months reported in both years
matched_rows as (
    select * from {{ ref('int_reporter_ytd') }} where basis in ('current', 'prior')
),

matched_indicators as (
    {{ unpivot_indicators('matched_rows', ['basis', 'reporter_code', 'year', 'through_month']) }}
),

like_for_like as (
    select reporter_code, year, through_month, indicator,
           max(value) filter (where basis = 'current') as value,
           max(value) filter (where basis = 'prior') as prior_value
    from matched_indicators
    group by reporter_code, year, through_month, indicator
),

compared as (
    {{ attainment('indicators', ['reporter_code', 'through_month']) }}
),

-- months of the year with live monthly rows (for GX: months in which every reporter has rows)
months_present as (
    select reporter_code, year, month from {{ ref('int_reporter_month') }} where reporter_code <> 'GX'
    union all
    select 'GX', year, month from {{ ref('int_reporter_month') }}
    where reporter_code <> 'GX'
    group by year, month
    having count(*) = (select count(*) from {{ ref('dim_reporter') }} where reporter_code <> 'GX')
),

-- how many of January…through_month have data: the year-to-date figure is complete when all of them do
months_with_data as (
    select e.reporter_code, e.year, e.through_month, count(m.month) as months_with_data
    from (select distinct reporter_code, year, through_month from all_rows) as e
    left join months_present as m
      on m.reporter_code = e.reporter_code and m.year = e.year and m.month <= e.through_month
    group by e.reporter_code, e.year, e.through_month
)

select
    c.reporter_code,
    r.reporter_name,
    c.year,
    c.through_month,
    make_date(c.year, c.through_month, 1) as period_month,
    {{ attainment_columns() }},
    l.value as like_for_like_value,
    l.prior_value as like_for_like_prior_value,
    {{ yoy_change('l.value', 'l.prior_value') }} as like_for_like_change,
    coalesce(m.months_with_data, 0) as months_with_data,
    coalesce(m.months_with_data, 0) = c.through_month as is_complete,
    coalesce(p.months_with_data, 0) = c.through_month as prior_is_complete
from compared as c
join {{ ref('dim_reporter') }} as r on r.reporter_code = c.reporter_code
left join like_for_like as l
  on l.reporter_code = c.reporter_code and l.year = c.year and l.through_month = c.through_month
 and l.indicator = c.indicator
left join months_with_data as m
  on m.reporter_code = c.reporter_code and m.year = c.year and m.through_month = c.through_month
left join months_with_data as p
  on p.reporter_code = c.reporter_code and p.year = c.year - 1 and p.through_month = c.through_month
