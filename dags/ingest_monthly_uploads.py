"""
### Nightly ingestion of the cities' uploads (`ingest_monthly_uploads`)

Every night at 01:30 (Asia/Shanghai) this DAG looks for new or changed files in the landing tree
(`<reporter>/<YYYY-MM>/<file>`), checks each against the data-governance rulebook (`expectations/`),
and either loads it into `raw` (replacing the reporter's previous batch for that period, atomically) or
moves it to quarantine with a report for the city statistician. Governance staff get an alert for every
rejection and for files with many warnings. When data was loaded, the raw-table Assets are updated and
`build_marts` runs.

Manual runs take `reporter` and `period` to narrow the search and `force` to reprocess files already seen.
The work lives in `energystat.ingest.run`; this file only wires it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from energystat import config
from energystat.orchestration.glue import (
    HEAVY_QUEUE,
    HELD_UPLOADS_ASSET,
    RAW_ASSETS,
    Tag,
    alert_urls,
    default_args,
)


@dag(
    dag_id="ingest_monthly_uploads",
    schedule="30 1 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    description="每晚校验各市上报文件，合格入库、不合格退回并告警 / nightly: validate the cities' uploads, load or quarantine, alert",
    doc_md=__doc__,
    tags=[Tag.PROJECT, Tag.INGESTION, Tag.DATA_QUALITY],
    params={
        "reporter": Param(None, type=["null", "string"], description="only this reporter code, e.g. 450100"),
        "period": Param(None, type=["null", "string"], description="only this period, YYYY-MM"),
        "force": Param(False, type="boolean", description="reprocess files already seen"),
    },
    default_args=default_args(),
)
def ingest_monthly_uploads():
    @task
    def discover_uploads(params: dict | None = None) -> dict:
        from energystat import warehouse
        from energystat.ingest import run as ingest_run

        p = params or {}
        return ingest_run.plan_run(str(config.landing_dir()), warehouse.warehouse_dsn(),
                                 p.get("reporter"), p.get("period"), bool(p.get("force")))

    @task
    def load_registry(plan: dict) -> list[dict]:
        from energystat import warehouse
        from energystat.ingest import run as ingest_run

        return ingest_run.run_batch(plan["registry"], warehouse.warehouse_dsn(), str(config.landing_dir()))

    @task
    def upload_batches(plan: dict) -> list[list[dict]]:
        return plan["batches"]

    @task(max_active_tis_per_dagrun=4, queue=HEAVY_QUEUE)  # GX validation + COPY: the heavy work
    def validate_and_load(batch: list[dict]) -> list[dict]:
        from energystat import warehouse
        from energystat.ingest import run as ingest_run

        return ingest_run.run_batch(batch, warehouse.warehouse_dsn(), str(config.landing_dir()))

    @task(trigger_rule="all_done")
    def alert_governance(registry: list[dict], batches: list[list[dict]]) -> dict:
        from energystat.ingest import run as ingest_run

        outcomes = registry + [o for batch in batches for o in batch]
        ingest_run.send_alerts(outcomes, alert_urls())
        ingest_run.fail_on_engineer_errors(outcomes)  # a file's unexpected error fails the run, after the others loaded
        return ingest_run.summarize(outcomes)

    @task(outlets=RAW_ASSETS)
    def publish_raw_assets(batches: list[list[dict]]) -> list[str]:
        """Emit the raw-table Assets that received data; skip (no event, no marts rebuild) otherwise."""
        from airflow.sdk.exceptions import AirflowSkipException

        from energystat.ingest import run as ingest_run

        updated = ingest_run.loaded_assets([o for batch in batches for o in batch])
        if not updated:
            raise AirflowSkipException("no new data loaded")
        return updated

    @task(outlets=[HELD_UPLOADS_ASSET])
    def publish_held_uploads(registry: list[dict], batches: list[list[dict]]) -> list[str]:
        """Emit the held-uploads Asset when this run held a file, so that review_exceptions asks at once."""
        from airflow.sdk.exceptions import AirflowSkipException

        from energystat.ingest import run as ingest_run

        held = ingest_run.held_uploads(registry + [o for batch in batches for o in batch])
        if not held:
            raise AirflowSkipException("nothing held for review")
        return held

    plan = discover_uploads()
    registry = load_registry(plan)
    loaded = validate_and_load.expand(batch=upload_batches(plan))
    registry >> loaded
    alert_governance(registry, loaded)
    publish_raw_assets(loaded)
    publish_held_uploads(registry, loaded)


ingest_monthly_uploads()
