"""URIs of the Airflow Assets the pipeline publishes (plain strings: importing this needs no Airflow)."""

MONTHLY_STATISTICS = "postgres://warehouse/raw/monthly_statistics"
TASK_PROGRESS = "postgres://warehouse/raw/task_progress"
MARTS = "postgres://warehouse/marts"

#: The raw table Asset each upload kind updates.
BY_KIND = {"monthly": MONTHLY_STATISTICS, "task_progress": TASK_PROGRESS}
