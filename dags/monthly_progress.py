"""
### Monthly progress (`monthly_progress`, 月度进度): early warnings and the bulletin

Runs whenever `build_marts` has rebuilt the marts (Asset `postgres://warehouse/marts/mart_target_attainment`).

1. **send_early_warnings** — for each reporter whose months so far are all in, one message (its own channels,
   else governance) listing the indicators whose year-end projection is at risk or off track, with the
   year-to-date figure, the projection and the target; and a province summary to the governance channel.
   Each is sent once per reporter and month (`ops.reminders_sent`).
2. **write_bulletin** — the latest month whose data the whole region has: `bulletin_<year>-<month>.docx` and
   `.html` (月度进度简报) in `ENERGYSTAT_CIRCULAR_DIR`, in the annual circular's layout.

The work lives in `energystat.monitoring`; this file only wires it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from energystat.orchestration.glue import MARTS_ASSET, Tag, default_args


@dag(
    dag_id="monthly_progress",
    description="After each marts build: early warnings of year-end risk and the monthly progress bulletin",
    schedule=MARTS_ASSET,
    start_date=pendulum.datetime(2022, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=[Tag.PROJECT, Tag.MONITORING, Tag.REPORTING],
    default_args=default_args(),
)
def monthly_progress():
    @task
    def send_early_warnings(logical_date=None) -> list[str]:
        from airflow.sdk import Variable

        from energystat import warehouse
        from energystat.monitoring import channels, early_warning
        from energystat.orchestration.glue import alert_urls

        today = pendulum.instance(logical_date or pendulum.now()).in_timezone("Asia/Shanghai").date()
        own = Variable.get(channels.REPORTER_URLS_VARIABLE, default=None)
        sent = early_warning.send_early_warnings(
            warehouse.warehouse_dsn(), today,
            reporter_urls=channels.parse_reporter_urls(own) if own else None, governance_urls=alert_urls())
        print(f"warned {sent.reporters}; province summary: {sent.summary_period or 'none new'}")
        return sent.reporters

    @task
    def write_bulletin() -> str | None:
        from energystat import config, warehouse
        from energystat.monitoring.bulletin import latest_complete_month, publish_bulletin

        dsn = warehouse.warehouse_dsn()
        month = latest_complete_month(dsn)
        if month is None:
            print("no month with the whole region's data yet: no bulletin")
            return None
        paths = publish_bulletin(*month, config.circular_dir(), dsn=dsn)
        print(f"bulletin written: {paths}")
        return str(paths["docx"])

    send_early_warnings() >> write_bulletin()


monthly_progress()
