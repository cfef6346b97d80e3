-- Totals and denominators per reporter, institution kind (党政机关 / 事业单位 / 团体组织) and year, and GX.
{{ aggregate_years('institution_kind') }}
