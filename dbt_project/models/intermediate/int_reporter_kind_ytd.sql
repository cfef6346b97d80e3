-- Year-to-date totals and denominators per reporter (and GX), institution kind, year and month-end.
{{ aggregate_years('institution_kind', relation=ref('int_institution_ytd'), period='year, through_month') }}
