-- Every upload a reporter owes: each of the 15 reporters × each month (monthly form) and each quarter-end
-- month (task progress) between the first and last period seen in the upload log, with its deadline
-- (ref_reporting_deadlines: e.g. the 10th of the following month). The deadline row is the one valid at the
-- period's first month, the latest valid_from winning, as energystat.reference.reporting_deadline picks it
-- (tests/test_dbt_marts.py checks both give the same dates).
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
    select
        form_kind, period_type, deadline_month_offset::integer as month_offset, deadline_day::integer as day,
        valid_from::date as valid_from, valid_to::date as valid_to
    from {{ ref('ref_reporting_deadlines') }}
),

owed as (
    -- a quarter's upload sits in the folder of its last month; its deadline row is the one valid at its first
    select
        m.period_month,
        d.form_kind,
        case when d.period_type = 'quarter' then (m.period_month - interval '2 months')::date
             else m.period_month end as period_start
    from months as m
    cross join (select distinct form_kind, period_type from deadlines) as d
    where d.period_type = 'month' or extract(month from m.period_month)::integer % 3 = 0
),

owed_with_rule as (
    select distinct on (o.form_kind, o.period_month)
        o.form_kind, o.period_month, d.month_offset, d.day
    from owed as o
    join deadlines as d
      on d.form_kind = o.form_kind
     and d.valid_from <= o.period_start
     and (d.valid_to is null or d.valid_to >= o.period_start)
    order by o.form_kind, o.period_month, d.valid_from desc
)

select
    r.reporter_code,
    o.form_kind as upload_kind,
    o.period_month,
    to_char(o.period_month, 'YYYY-MM') as period,
    (o.period_month + make_interval(months => o.month_offset) + make_interval(days => o.day - 1))::date
        as deadline_date
from owed_with_rule as o
cross join {{ ref('dim_reporter') }} as r
where r.reporter_code <> 'GX'
