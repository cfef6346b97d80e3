-- Year-to-date totals and denominators per reporter, year and month-end, and GX (int_reporter_year's definitions).
{{ aggregate_years(relation=ref('int_institution_ytd'), period='year, through_month') }}
