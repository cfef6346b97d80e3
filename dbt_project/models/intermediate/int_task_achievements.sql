-- Task quantities per reporter (and GX), year, task and scope. The scope is (单位级别, 单位类型) for tasks
-- whose targets are split that way (ref_task_kinds.has_level_and_kind), else ('全部', '全部').
-- achieved_in_year sums the year's quarters; achieved_cumulative sums every quarter up to the year's end
-- (used for cumulative tasks such as 节约型机关创建).
with kinds as (
    select task_code, category_zh, unit_zh, is_cumulative, has_level_and_kind from {{ ref('ref_task_kinds') }}
),

rows as (
    select
        t.reporter_code,
        t.year,
        t.task_code,
        case when k.has_level_and_kind then coalesce(t.admin_level, '未填') else '全部' end as admin_level,
        case when k.has_level_and_kind then coalesce(t.institution_kind, '未填') else '全部' end as institution_kind,
        t.quantity
    from {{ ref('stg_task_progress') }} as t
    join kinds as k on k.task_code = t.task_code
),

by_reporter as (
    select reporter_code, year, task_code, admin_level, institution_kind, sum(quantity) as quantity
    from rows group by 1, 2, 3, 4, 5
    union all
    select 'GX', year, task_code, admin_level, institution_kind, sum(quantity)
    from rows group by 2, 3, 4, 5
),

target_scopes as (
    select distinct t.task_code,
        case when k.has_level_and_kind then t.admin_level else '全部' end as admin_level,
        case when k.has_level_and_kind then t.institution_kind else '全部' end as institution_kind
    from {{ ref('ref_task_targets') }} as t
    join kinds as k on k.task_code = t.task_code
),

scopes as (
    select task_code, admin_level, institution_kind from target_scopes
    union
    select distinct task_code, admin_level, institution_kind from rows
    union
    select task_code, '全部', '全部' from kinds where not has_level_and_kind
),

spine as (
    select r.reporter_code, y.year, s.task_code, s.admin_level, s.institution_kind
    from {{ ref('dim_reporter') }} as r
    cross join (select distinct year from rows) as y
    cross join scopes as s
)

select
    s.reporter_code,
    s.year,
    s.task_code,
    k.category_zh,
    k.unit_zh,
    k.is_cumulative,
    s.admin_level,
    s.institution_kind,
    coalesce(b.quantity, 0) as achieved_in_year,
    (
        select coalesce(sum(c.quantity), 0) from by_reporter as c
        where c.reporter_code = s.reporter_code and c.task_code = s.task_code
          and c.admin_level = s.admin_level and c.institution_kind = s.institution_kind and c.year <= s.year
    ) as achieved_cumulative
from spine as s
join kinds as k on k.task_code = s.task_code
left join by_reporter as b
  on b.reporter_code = s.reporter_code and b.year = s.year and b.task_code = s.task_code
 and b.admin_level = s.admin_level and b.institution_kind = s.institution_kind
