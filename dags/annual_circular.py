"""
### Annual circular (`annual_circular`, 年度通报)

Every year on 5 February at 08:00 (Asia/Shanghai) this DAG writes the previous year's circular on the public
institutions' energy and resource consumption — `circular_<year>.docx` (for officials), `.html` (for the web)
and `.json` (every number shown) — into `ENERGYSTAT_CIRCULAR_DIR` (default `.energystat/circular`).

1. **wait_for_fresh_marts** — waits (re-checking every 10 minutes, up to 12 hours) until the marts include the
   latest accepted upload, i.e. `build_marts` has run since the last ingestion.
2. **check_reporting_complete** — refuses, without retrying, when a reporter lacks accepted monthly statistics
   for a month of the year; the failure names the reporters and months. Set `force` to publish anyway (the
   documents then say what is missing).
3. **publish_circular** — reads the marts and writes the three files.

Manual runs: `year` (default: last year), `force`, `wait_for_marts` (false skips step 1).
Issuing body, date and document number come from `config/circular.yaml` or `ENERGYSTAT_CIRCULAR_*`; the
wording from `include/energystat/circular/templates/wording.zh.yaml` (see docs/circular.md).
The work lives in `energystat.circular`; this file only wires it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from energystat.orchestration.glue import Tag, default_args


def _year(params: dict, logical_date) -> int:
    from energystat.circular.data import default_year

    return int(params["year"]) if params.get("year") else default_year(logical_date)


@dag(
    dag_id="annual_circular",
    schedule="0 8 5 2 *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    description="年度通报：按设区市和单位通报上一年度能源资源消费与目标完成情况 / the annual circular (.docx, .html, .json)",
    doc_md=__doc__,
    tags=[Tag.PROJECT, Tag.CIRCULAR, Tag.REPORTING],
    params={
        "year": Param(None, type=["null", "integer"], description="the circular's year (default: last year)"),
        "force": Param(False, type="boolean", description="publish even when reporting is incomplete"),
        "wait_for_marts": Param(True, type="boolean", description="wait until the marts include the latest upload"),
    },
    default_args=default_args(retry_delay=timedelta(minutes=5)),
)
def annual_circular():
    @task.sensor(poke_interval=600, timeout=12 * 3600, mode="reschedule")
    def wait_for_fresh_marts(params: dict | None = None):
        from airflow.sdk import PokeReturnValue

        from energystat import warehouse
        from energystat.circular.data import marts_freshness

        if not (params or {}).get("wait_for_marts", True):
            return PokeReturnValue(is_done=True)
        fresh, why = marts_freshness(warehouse.warehouse_dsn())
        print(why)
        return PokeReturnValue(is_done=fresh)

    @task
    def check_reporting_complete(params: dict | None = None, logical_date=None) -> int:
        from airflow.sdk.exceptions import AirflowFailException

        from energystat import warehouse
        from energystat.circular import IncompleteReportingError, check_complete, load_circular_data

        p = params or {}
        year = _year(p, logical_date)
        data = load_circular_data(warehouse.warehouse_dsn(), year)
        try:
            check_complete(data)
        except IncompleteReportingError as exc:
            if not p.get("force"):
                raise AirflowFailException(str(exc)) from exc  # retrying cannot help: the data is missing
            print(f"forced: {exc}")
        return year

    @task
    def publish_circular(year: int, params: dict | None = None) -> dict[str, str]:
        from energystat import config, warehouse
        from energystat.circular import publish

        paths = publish(year, config.circular_dir(), dsn=warehouse.warehouse_dsn(),
                        force=bool((params or {}).get("force")))
        for path in paths.values():
            print(path)
        return {kind: str(path) for kind, path in paths.items()}

    wait_for_fresh_marts() >> publish_circular(check_reporting_complete())


annual_circular()
