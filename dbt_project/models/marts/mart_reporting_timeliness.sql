-- 报送效率: per reporter, form and period — first accepted upload, deadline, days late, institutions expected
-- (active in the registry during the month) vs reported (live batch), warnings, rejections, held files and the
-- uploads a governance reviewer loaded by overriding their reviewable errors (同意入库).
with uploads as (
    select
        reporter_code,
        upload_kind,
        period,
        min(received_at) filter (where was_accepted) as first_accepted_at,
        count(*) filter (where status = 'rejected') as rejected_uploads,
        -- held: rejected on reviewable rules only, waiting for the review loop (not a rejection yet)
        count(*) filter (where status = 'held') as held_uploads,
        count(*) as uploads,
        sum(warning_count) filter (where is_live) as live_warning_count,
        max(upload_id) filter (where is_live) as live_upload_id
    from {{ ref('stg_upload_log') }}
    where upload_kind in ('monthly', 'task_progress')
    group by reporter_code, upload_kind, period
),

overrides as (
    select reporter_code, upload_kind, period, count(distinct upload_id) as override_uploads
    from {{ ref('stg_review_decisions') }}
    where is_override
    group by reporter_code, upload_kind, period
),

reported as (
    select reporter_code, period_month, count(distinct credit_code) as institutions_reported
    from {{ ref('stg_monthly_statistics') }}
    group by reporter_code, period_month
),

expected as (
    select e.reporter_code, e.period_month, count(i.credit_code) as institutions_expected
    from (select distinct reporter_code, period_month from {{ ref('int_expected_uploads') }}) as e
    join {{ ref('stg_institution_registry') }} as i
      on i.reporter_code = e.reporter_code
     and i.active_from <= (e.period_month + interval '1 month - 1 day')::date
     and (i.active_to is null or i.active_to >= e.period_month)
    group by e.reporter_code, e.period_month
)

select
    e.reporter_code,
    r.reporter_name,
    e.upload_kind,
    e.period,
    e.period_month,
    e.deadline_date,
    u.first_accepted_at,
    (u.first_accepted_at at time zone 'Asia/Shanghai')::date - e.deadline_date as days_after_deadline,
    -- greatest() ignores nulls: a missing upload has no days late (is_missing says it)
    case when u.first_accepted_at is not null
        then greatest((u.first_accepted_at at time zone 'Asia/Shanghai')::date - e.deadline_date, 0) end as days_late,
    u.first_accepted_at is null as is_missing,
    (u.first_accepted_at at time zone 'Asia/Shanghai')::date <= e.deadline_date as is_on_time,
    case when e.upload_kind = 'monthly' then coalesce(x.institutions_expected, 0) end as institutions_expected,
    case when e.upload_kind = 'monthly' then coalesce(p.institutions_reported, 0) end as institutions_reported,
    coalesce(u.uploads, 0) as uploads,
    coalesce(u.rejected_uploads, 0) as rejected_uploads,
    coalesce(u.held_uploads, 0) as held_uploads,
    coalesce(u.live_warning_count, 0) as warning_count,
    coalesce(o.override_uploads, 0) as override_uploads,
    u.live_upload_id
from {{ ref('int_expected_uploads') }} as e
join {{ ref('dim_reporter') }} as r on r.reporter_code = e.reporter_code
left join uploads as u
  on u.reporter_code = e.reporter_code and u.upload_kind = e.upload_kind and u.period = e.period
left join overrides as o
  on o.reporter_code = e.reporter_code and o.upload_kind = e.upload_kind and o.period = e.period
left join expected as x on x.reporter_code = e.reporter_code and x.period_month = e.period_month
left join reported as p on p.reporter_code = e.reporter_code and p.period_month = e.period_month
