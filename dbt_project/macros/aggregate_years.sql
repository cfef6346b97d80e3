{#- Totals and denominators per reporter and year, plus the whole region `GX` computed the same way over all
    rows; `extra_group` adds a breakdown column (e.g. institution_kind) to both. `relation` and `period` let the
    year-to-date models aggregate int_institution_ytd per (year, through_month) with the same definitions. -#}
{% macro aggregate_years(extra_group=none, relation=none, period='year') -%}
{%- set extra = (', ' ~ extra_group) if extra_group else '' -%}
{%- set source = relation if relation is not none else ref('int_institution_year') -%}
with by_reporter as (
    select
        reporter_code, {{ period }}{{ extra }},
        count(*) as institutions_reported,
        sum(energy_kgce) as energy_kgce,
        sum(water_t) as water_t,
        sum(carbon_kgco2) as carbon_kgco2,
        sum(headcount_persons_mean) as headcount_persons,
        sum(floor_area_m2_mean) as floor_area_m2
    from {{ source }}
    group by reporter_code, {{ period }}{{ extra }}
),

whole_region as (
    select
        'GX'::text as reporter_code, {{ period }}{{ extra }},
        count(*) as institutions_reported,
        sum(energy_kgce) as energy_kgce,
        sum(water_t) as water_t,
        sum(carbon_kgco2) as carbon_kgco2,
        sum(headcount_persons_mean) as headcount_persons,
        sum(floor_area_m2_mean) as floor_area_m2
    from {{ source }}
    group by {{ period }}{{ extra }}
)

select * from by_reporter
union all
select * from whole_region
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

{#- attained and gap from yoy_change and target_change (null when either is unknown). -#}
{% macro attained_and_gap() -%}
    case when yoy_change is not null and target_change is not null then yoy_change <= target_change end as attained,
    yoy_change - target_change as gap
{%- endmacro %}
