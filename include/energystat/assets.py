"""URIs of the Airflow Assets the pipeline publishes (plain strings: importing this needs no Airflow).

Postgres Asset URIs are `postgres://<host>:<port>/<database>/<schema>/<table>`; `warehouse` names the
logical warehouse, wherever it runs.
"""

from energystat.contract.uploads import MONTHLY, TASK_PROGRESS

RAW_MONTHLY_STATISTICS = "postgres://warehouse:5432/energystat/raw/monthly_statistics"
RAW_TASK_PROGRESS = "postgres://warehouse:5432/energystat/raw/task_progress"
#: Emitted by build_marts when every model and test passed (the circular waits for it).
MARTS_BUILT = "postgres://warehouse:5432/energystat/marts/mart_target_attainment"

#: Emitted by the ingestion when a run held an upload for review (review_exceptions runs on it).
HELD_UPLOADS = "postgres://warehouse:5432/energystat/ops/upload_log"

#: The raw table Asset each upload kind updates.
BY_KIND = {MONTHLY: RAW_MONTHLY_STATISTICS, TASK_PROGRESS: RAW_TASK_PROGRESS}
