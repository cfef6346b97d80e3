-- Year-end projection (年度预测) of each intensity from each month-end, with an interval and a risk class.
-- Seasonal method: each remaining month is last year's same month scaled by the year-to-date ratio, so the
-- projected annual value is last year's annual value × (1 + year-to-date change). The interval comes from how
-- much the monthly year-on-year ratios scatter: the remaining months' mean ratio may differ from the ratio so far
-- by sd × √(1/M + 1/(12 − M)) (estimate error + the remaining months' own scatter), weighted by the share of
-- last year still to come. Risk: on_track when the whole interval meets the target, off_track when none of it does.
{% set z = var('projection_interval_z', 1.2816) %}  {#- 1.2816 = two-sided 80 % normal interval -#}
with monthly as (
    {{ unpivot_indicators(ref('int_reporter_month'), ['reporter_code', 'year', 'month']) }}
),

monthly_ratios as (
    select cur.reporter_code, cur.year, cur.month, cur.indicator, cur.value / nullif(prev.value, 0) as ratio
    from monthly as cur
    join monthly as prev
      on prev.reporter_code = cur.reporter_code and prev.year = cur.year - 1
     and prev.month = cur.month and prev.indicator = cur.indicator
),

ytd as (
    select * from {{ ref('mart_ytd_attainment') }}
),

-- each reporter's scatter of monthly ratios so far
own_spread as (
    select y.reporter_code, y.year, y.through_month, y.indicator,
           stddev_samp(r.ratio) as ratio_sd, count(r.ratio) as ratios
    from ytd as y
    left join monthly_ratios as r
      on r.reporter_code = y.reporter_code and r.year = y.year and r.indicator = y.indicator
     and r.month <= y.through_month
    group by y.reporter_code, y.year, y.through_month, y.indicator
),

-- before a reporter has 3 months of ratios: the scatter across all reporters' ratios so far (wider: it also
-- holds the differences between reporters' trends)
pooled_spread as (
    select y.year, y.through_month, y.indicator, stddev_samp(r.ratio) as ratio_sd
    from (select distinct year, through_month, indicator from ytd) as y
    join monthly_ratios as r
      on r.year = y.year and r.indicator = y.indicator and r.month <= y.through_month and r.reporter_code <> 'GX'
    group by y.year, y.through_month, y.indicator
),

projected as (
    select
        y.*,
        a.value as prior_annual_value,
        -- share of last year's annual figure that the months so far made up (the part already "known")
        greatest(0, least(1, y.prior_value / nullif(a.value, 0))) as prior_share_done,
        case when s.ratios >= 3 then s.ratio_sd else p.ratio_sd end as monthly_ratio_sd,
        s.ratios >= 3 as uses_own_spread
    from ytd as y
    join {{ ref('mart_target_attainment') }} as a
      on a.reporter_code = y.reporter_code and a.year = y.year - 1 and a.indicator = y.indicator
    left join own_spread as s
      on s.reporter_code = y.reporter_code and s.year = y.year and s.through_month = y.through_month
     and s.indicator = y.indicator
    left join pooled_spread as p on p.year = y.year and p.through_month = y.through_month and p.indicator = y.indicator
),

with_interval as (
    select
        *,
        prior_annual_value * (1 + yoy_change) as projected_value,
        yoy_change as projected_change,
        case when through_month = 12 then 0
             else (1 - prior_share_done) * monthly_ratio_sd
                  * sqrt(1.0 / through_month + 1.0 / (12 - through_month)) end as projected_change_se
    from projected
),

classified as (
    select
        *,
        projected_change - {{ z }} * projected_change_se as projected_change_low,
        projected_change + {{ z }} * projected_change_se as projected_change_high,
        case
            when projected_change is null or target_change is null or projected_change_se is null then null
            when projected_change + {{ z }} * projected_change_se <= target_change then 'on_track'
            when projected_change - {{ z }} * projected_change_se > target_change then 'off_track'
            else 'at_risk'
        end as risk_class
    from with_interval
)

select
    reporter_code,
    reporter_name,
    year,
    through_month,
    period_month,
    indicator,
    indicator_name_zh,
    unit,
    value as ytd_value,
    yoy_change as ytd_change,
    is_complete,
    prior_annual_value,
    prior_share_done,
    monthly_ratio_sd,
    uses_own_spread,
    projected_value,
    projected_change,
    projected_change_low,
    projected_change_high,
    target_change,
    risk_class,
    case risk_class when 'on_track' then '有望完成' when 'at_risk' then '存在风险' when 'off_track' then '难以完成'
    end as risk_class_zh
from classified
