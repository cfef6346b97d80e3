-- One row per month present in the data and per converted raw column: the factors that turn the native
-- quantity into kgce and kgCO2.
--  * standard coal: the seed row of the chosen method (var energy_method, default: the seed's is_default rows,
--    当量值), valid in that month; litres convert to kg through ref_fuel_densities first;
--  * carbon: the default-scope factor of the month's year, or of the latest earlier year with one
--    (e.g. 2023 uses 2022's Guangxi grid factor); if only later years exist, the earliest one.
with months as (
    select distinct period_month, year from {{ ref('stg_monthly_statistics') }}
),

coal as (
    select raw_column, unit, kgce_per_unit::numeric as kgce_per_unit, valid_from::date as valid_from,
           valid_to::date as valid_to
    from {{ ref('ref_standard_coal_coefficients') }}
    {% if var('energy_method', none) is none %}
    where is_default
    {% else %}
    where method = '{{ var("energy_method") }}'
    {% endif %}
),

densities as (
    select raw_column, kg_per_l::numeric as kg_per_l, valid_from::date as valid_from, valid_to::date as valid_to
    from {{ ref('ref_fuel_densities') }}
),

co2 as (
    select year::integer as factor_year, raw_column, kgco2_per_unit::numeric as kgco2_per_unit
    from {{ ref('ref_co2_factors') }}
    where is_default
),

coal_by_month as (
    select
        m.period_month,
        m.year,
        c.raw_column,
        c.kgce_per_unit * coalesce(d.kg_per_l, 1) as kgce_per_native_unit,
        coalesce(d.kg_per_l, 1) as kg_per_native_unit
    from months as m
    join coal as c
      on m.period_month >= c.valid_from and (c.valid_to is null or m.period_month <= c.valid_to)
    left join densities as d
      on d.raw_column = c.raw_column
     and m.period_month >= d.valid_from and (d.valid_to is null or m.period_month <= d.valid_to)
),

co2_year as (
    -- the factor year each (data year, column) uses
    select
        y.year,
        f.raw_column,
        coalesce(
            max(f.factor_year) filter (where f.factor_year <= y.year),
            min(f.factor_year)
        ) as factor_year
    from (select distinct year from months) as y
    cross join co2 as f
    group by y.year, f.raw_column
)

select
    b.period_month,
    b.year,
    b.raw_column,
    b.kg_per_native_unit,
    b.kgce_per_native_unit,
    cy.factor_year as co2_factor_year,
    f.kgco2_per_unit * b.kg_per_native_unit as kgco2_per_native_unit
from coal_by_month as b
left join co2_year as cy on cy.year = b.year and cy.raw_column = b.raw_column
left join co2 as f on f.raw_column = cy.raw_column and f.factor_year = cy.factor_year
