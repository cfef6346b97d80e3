-- Target attainment of the four intensity indicators, per reporter (and GX) and year.
with indicators as (
    {{ unpivot_indicators(ref('int_reporter_year'), ['reporter_code', 'year']) }}
),

compared as (
    {{ attainment('indicators', ['reporter_code']) }}
)

select
    c.reporter_code,
    r.reporter_name,
    c.year,
    {{ attainment_columns() }}
from compared as c
join {{ ref('dim_reporter') }} as r on r.reporter_code = c.reporter_code
