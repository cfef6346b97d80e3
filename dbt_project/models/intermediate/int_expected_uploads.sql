-- Every upload a reporter owes: each of the 15 reporters × each month (monthly form) and each quarter-end
-- month (task progress) between the first and last period seen in the upload log, with its deadline
-- (ref_reporting_deadlines: e.g. the 10th of the following month).
with bounds as (
    select
        min(to_date(period, 'YYYY-MM')) as first_month,
        max(to_date(period, 'YYYY-MM')) as last_month
    from {{ ref('stg_upload_log') }}
    where upload_kind in ('monthly', 'task_progress') and period ~ '^\d{4}-\d{2}$'
),

months as (
    select generate_series(first_month, last_month, interval '1 month')::date as period_month
    from bounds
    where first_month is not null
),

deadlines as (
    select form_kind, period_type, deadline_month_offset::integer as month_offset, deadline_day::integer as day
    from {{ ref('ref_reporting_deadlines') }}
)

select
    r.reporter_code,
    d.form_kind as upload_kind,
    m.period_month,
    to_char(m.period_month, 'YYYY-MM') as period,
    (m.period_month + make_interval(months => d.month_offset) + make_interval(days => d.day - 1))::date
        as deadline_date
from months as m
cross join deadlines as d
cross join {{ ref('dim_reporter') }} as r
where r.reporter_code <> 'GX'
  and (d.period_type = 'month' or extract(month from m.period_month)::integer % 3 = 0)
