-- No live monthly row is lost on its way to the facts (e.g. a month without a conversion factor) and
-- every fact row has its energy and carbon.
select 'row count' as problem
where (select count(*) from {{ ref('stg_monthly_statistics') }})
   <> (select count(*) from {{ ref('fct_institution_month') }})
union all
select 'missing kgce or kgCO2' from {{ ref('fct_institution_month') }}
where energy_kgce is null or carbon_kgco2 is null
