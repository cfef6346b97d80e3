{#- Totals and denominators per reporter and year, plus the whole region `GX` computed the same way over all
    rows; `extra_group` adds a breakdown column (e.g. institution_kind) to both. `relation` and `period` let the
    year-to-date models aggregate int_institution_ytd per (year, through_month) with the same definitions. -#}
{% macro aggregate_years(extra_group=none, relation=none, period='year') -%}
{%- set extra = (', ' ~ extra_group) if extra_group else '' -%}
{%- set source = relation if relation is not none else ref('int_institution_year') -%}
-- one pass, two groupings: each reporter's rows, and all rows as the whole region 'GX'
select
    case when grouping(reporter_code) = 1 then 'GX'::text else reporter_code end as reporter_code,
    {{ period }}{{ extra }},
    count(*) as institutions_reported,
    sum(energy_kgce) as energy_kgce,
    sum(water_t) as water_t,
    sum(carbon_kgco2) as carbon_kgco2,
    sum(headcount_persons_mean) as headcount_persons,
    sum(floor_area_m2_mean) as floor_area_m2
from {{ source }}
group by grouping sets ((reporter_code, {{ period }}{{ extra }}), ({{ period }}{{ extra }}))
{%- endmacro %}

{#- The four intensity indicators of an aggregate relation, one row per group and indicator. -#}
{% macro unpivot_indicators(relation, group_columns) -%}
{%- set groups = group_columns | join(', ') -%}
select {{ groups }}, 'energy_per_capita'::text as indicator, energy_kgce / nullif(headcount_persons, 0) as value
from {{ relation }}
union all
select {{ groups }}, 'energy_per_m2', energy_kgce / nullif(floor_area_m2, 0) from {{ relation }}
union all
select {{ groups }}, 'water_per_capita', water_t / nullif(headcount_persons, 0) from {{ relation }}
union all
select {{ groups }}, 'carbon_per_m2', carbon_kgco2 / nullif(floor_area_m2, 0) from {{ relation }}
{%- endmacro %}

{#- Year-on-year comparison with the year's target. `indicators` (a CTE name) has group_columns + year +
    indicator + value; adds indicator_name_zh, unit, prior_value, yoy_change, target_change, attained, gap. -#}
{% macro attainment(indicators, group_columns) -%}
select
    cur.*,
    d.indicator_name_zh,
    d.unit,
    prev.value as prior_value,
    {{ yoy_change('cur.value', 'prev.value') }} as yoy_change,
    t.target_change::numeric as target_change
from {{ indicators }} as cur
left join {{ indicators }} as prev
  on prev.year = cur.year - 1 and prev.indicator = cur.indicator
  {%- for g in group_columns %} and prev.{{ g }} is not distinct from cur.{{ g }}{% endfor %}
left join {{ ref('ref_intensity_targets') }} as t on t.year = cur.year and t.indicator = cur.indicator
left join (
    -- name and unit of each indicator: from its most recent target row
    select distinct on (indicator) indicator, indicator_name_zh, unit
    from {{ ref('ref_intensity_targets') }}
    order by indicator, year desc
) as d on d.indicator = cur.indicator
{%- endmacro %}

{#- The attainment columns every attainment mart ends with (from `attainment`'s output aliased c): the indicator,
    its value and last year's, the change, the target, and attained / gap (null when the change or target is unknown). -#}
{% macro attainment_columns() -%}
    c.indicator,
    c.indicator_name_zh,
    c.unit,
    c.value,
    c.prior_value,
    c.yoy_change,
    c.target_change,
    case when c.yoy_change is not null and c.target_change is not null then c.yoy_change <= c.target_change end as attained,
    c.yoy_change - c.target_change as gap
{%- endmacro %}
