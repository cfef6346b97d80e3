-- Year-to-date totals and denominators per reporter (and GX), institution kind, year and month-end (all rows).
{{ aggregate_years('institution_kind', relation="(select * from " ~ ref('int_institution_ytd') ~ " where basis = 'all') as ytd", period='year, through_month') }}
