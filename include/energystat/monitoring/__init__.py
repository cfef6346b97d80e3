"""During the year: deadline reminders, early warnings on the year-end projection, and the projection's backtest.

The year-to-date figures and the projection themselves are dbt marts (`mart_ytd_attainment`,
`mart_year_end_projection`); this package reads them and tells people. No Airflow import: the DAG
`reporting_reminders` only wires these functions.
"""
