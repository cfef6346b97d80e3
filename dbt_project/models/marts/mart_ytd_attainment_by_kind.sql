-- Year-to-date attainment per reporter (and GX), institution kind and month-end (mart_ytd_attainment's definitions).
with indicators as (
    {{ unpivot_indicators(ref('int_reporter_kind_ytd'), ['reporter_code', 'institution_kind', 'year', 'through_month']) }}
),

compared as (
    {{ attainment('indicators', ['reporter_code', 'institution_kind', 'through_month']) }}
)

select
    c.reporter_code,
    r.reporter_name,
    c.institution_kind,
    c.year,
    c.through_month,
    {{ attainment_columns() }}
from compared as c
join {{ ref('dim_reporter') }} as r on r.reporter_code = c.reporter_code
