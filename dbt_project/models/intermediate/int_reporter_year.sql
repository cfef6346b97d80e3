-- Totals and denominators per reporter and year, and the whole region (GX) computed the same way.
{{ aggregate_years() }}
