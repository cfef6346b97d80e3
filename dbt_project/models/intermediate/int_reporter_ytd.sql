-- Year-to-date totals and denominators per basis (all rows / like-for-like current / like-for-like prior),
-- reporter, year and month-end, and GX (int_reporter_year's definitions).
{{ aggregate_years('basis', relation=ref('int_institution_ytd'), period='year, through_month') }}
