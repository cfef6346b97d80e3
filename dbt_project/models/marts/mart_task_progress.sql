-- Key-task progress per reporter (and GX), year, task and scope against the targets seed.
--  * count targets (件, 平方米, 个) are region-wide: they apply to GX rows only;
--  * share targets (节水型单位: e.g. 60 % of 区直 事业单位) apply to GX and to each reporter, their base being the
--    registered active institutions of that level and kind at the end of the year (or the seed's base_count);
--  * achieved = the year's sum, or the cumulative sum for cumulative tasks; completion_ratio = achieved / target.
with achieved as (
    select *, case when is_cumulative then achieved_cumulative else achieved_in_year end as achieved
    from {{ ref('int_task_achievements') }}
),

targets as (
    select
        t.year::integer as year, t.task_code, t.target_type, t.target_value::numeric as target_value,
        t.target_share::numeric as target_share, t.base_count::numeric as base_count,
        case when k.has_level_and_kind then t.admin_level else '全部' end as admin_level,
        case when k.has_level_and_kind then t.institution_kind else '全部' end as institution_kind
    from {{ ref('ref_task_targets') }} as t
    join {{ ref('ref_task_kinds') }} as k on k.task_code = t.task_code
),

registered as (
    -- registered institutions per reporter (and GX), level, kind, active at the end of each year
    select y.year, coalesce(i.reporter_code, 'GX') as reporter_code, i.admin_level, i.institution_kind,
           count(*) as institutions
    from (select distinct year from achieved) as y
    join {{ ref('stg_institution_registry') }} as i
      on i.active_from <= make_date(y.year, 12, 31) and (i.active_to is null or i.active_to >= make_date(y.year, 12, 31))
    group by grouping sets ((y.year, i.reporter_code, i.admin_level, i.institution_kind),
                            (y.year, i.admin_level, i.institution_kind))
)

select
    a.reporter_code,
    r.reporter_name,
    a.year,
    a.task_code,
    a.category_zh,
    a.unit_zh,
    a.admin_level,
    a.institution_kind,
    a.is_cumulative,
    a.achieved_in_year,
    a.achieved,
    t.target_type,
    t.target_share,
    case when t.target_type = 'share' then coalesce(t.base_count, g.institutions, 0) else t.base_count end
        as target_base_count,
    case
        when t.target_type = 'share' then t.target_share * coalesce(t.base_count, g.institutions, 0)
        when a.reporter_code = 'GX' then t.target_value
    end as target,
    a.achieved / nullif(case
        when t.target_type = 'share' then t.target_share * coalesce(t.base_count, g.institutions, 0)
        when a.reporter_code = 'GX' then t.target_value
    end, 0) as completion_ratio
from achieved as a
join {{ ref('dim_reporter') }} as r on r.reporter_code = a.reporter_code
left join targets as t
  on t.year = a.year and t.task_code = a.task_code
 and t.admin_level = a.admin_level and t.institution_kind = a.institution_kind
left join registered as g
  on g.year = a.year and g.reporter_code = a.reporter_code
 and g.admin_level = a.admin_level and g.institution_kind = a.institution_kind
