-- Target attainment per reporter (and GX), institution kind and year.
with indicators as (
    {{ unpivot_indicators(ref('int_reporter_kind_year'), ['reporter_code', 'institution_kind', 'year']) }}
),

compared as (
    {{ attainment('indicators', ['reporter_code', 'institution_kind']) }}
)

select
    c.reporter_code,
    r.reporter_name,
    c.institution_kind,
    c.year,
    {{ attainment_columns() }}
from compared as c
join {{ ref('dim_reporter') }} as r on r.reporter_code = c.reporter_code
