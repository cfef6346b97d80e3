"""Old import path of the DAG's ingestion tasks, kept while `dags/ingest_monthly_uploads.py` still uses it.

Remove once the DAG imports `energystat.ingest.run` (the lead's step after merging; the DAG belongs to h11).
"""

from energystat.ingest.run import (
    fail_on_engineer_errors,
    loaded_assets,
    plan_run,
    run_batch,
    send_alerts,
    summarize,
)

__all__ = ["fail_on_engineer_errors", "loaded_assets", "plan_run", "run_batch", "send_alerts", "summarize"]
