-- Per institution and year: intensities, percentile within its subkind (机关, 医院 …), and flags for the top
-- outliers (percentile >= var top_outlier_percentile) and for mean monthly intensities outside the plausible
-- range of the kind (ref_intensity_ranges, the M010 ranges).
with years as (
    select
        *,
        energy_kgce / nullif(headcount_persons_mean, 0) as energy_per_capita_kgce,
        energy_kgce / nullif(floor_area_m2_mean, 0) as energy_per_m2_kgce,
        water_t / nullif(headcount_persons_mean, 0) as water_per_capita_t,
        carbon_kgco2 / nullif(floor_area_m2_mean, 0) as carbon_per_m2_kgco2
    from {{ ref('int_institution_year') }}
),

ranked as (
    select
        *,
        (percent_rank() over (partition by year, institution_subkind order by energy_per_m2_kgce))::numeric
            as energy_per_m2_percentile,
        (percent_rank() over (partition by year, institution_subkind order by energy_per_capita_kgce))::numeric
            as energy_per_capita_percentile
    from years
),

ranges as (
    select
        institution_subkind,
        max(low::numeric) filter (where indicator = 'energy_per_capita') as energy_per_capita_low,
        max(high::numeric) filter (where indicator = 'energy_per_capita') as energy_per_capita_high,
        max(low::numeric) filter (where indicator = 'energy_per_m2') as energy_per_m2_low,
        max(high::numeric) filter (where indicator = 'energy_per_m2') as energy_per_m2_high,
        max(low::numeric) filter (where indicator = 'water_per_capita') as water_per_capita_low,
        max(high::numeric) filter (where indicator = 'water_per_capita') as water_per_capita_high
    from {{ ref('ref_intensity_ranges') }}
    group by institution_subkind
)

select
    k.credit_code,
    k.year,
    k.reporter_code,
    k.institution_name,
    k.institution_kind,
    k.institution_subkind,
    k.admin_level,
    k.is_registered,
    k.months_reported,
    k.headcount_persons_mean,
    k.floor_area_m2_mean,
    k.energy_kgce,
    k.water_t,
    k.carbon_kgco2,
    k.energy_per_capita_kgce,
    k.energy_per_m2_kgce,
    k.water_per_capita_t,
    k.carbon_per_m2_kgco2,
    k.energy_per_m2_percentile,
    k.energy_per_capita_percentile,
    greatest(k.energy_per_m2_percentile, k.energy_per_capita_percentile)
        >= {{ var('top_outlier_percentile') }} as is_top_outlier,
    coalesce(
        k.energy_per_capita_kgce / k.months_reported not between g.energy_per_capita_low and g.energy_per_capita_high
        or k.energy_per_m2_kgce / k.months_reported not between g.energy_per_m2_low and g.energy_per_m2_high
        or k.water_per_capita_t / k.months_reported not between g.water_per_capita_low and g.water_per_capita_high,
        false
    ) as outside_plausible_range
from ranked as k
left join ranges as g on g.institution_subkind = k.institution_subkind
