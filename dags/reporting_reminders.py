"""
### Deadline reminders (`reporting_reminders`, 报送提醒)

Every day at 08:00 (Asia/Shanghai) this DAG reminds each reporter that has no accepted upload for a period:
`ENERGYSTAT_REMINDER_DAYS_BEFORE` days (default 3; Airflow Variable `energystat_reminder_days_before`)
before the deadline, and on every day after it. The deadline is the platform's one rule (seed
`ref_reporting_deadlines`, e.g. the 10th of the following month for the monthly form; the timeliness mart
reads the same seed). The day is the run's logical date in Asia/Shanghai.

* **Channels**: the reporter's own Apprise URLs (Variable `energystat_reporter_alert_urls` or env
  `ENERGYSTAT_REPORTER_ALERT_URLS`, JSON `{"450100": ["mailto://…"]}`), else the governance channel
  (`energystat_alert_urls`).
* **Once a day**: each reminder is recorded in `ops.reminders_sent` in the transaction that sends it, so a
  rerun or retry never sends it twice; an undelivered one is retried by the next run.

The work lives in `energystat.monitoring.reminders`; this file only wires it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from energystat.orchestration.glue import Tag, default_args


@dag(
    dag_id="reporting_reminders",
    description="Daily: remind reporters without an accepted upload before and after the reporting deadline",
    schedule="0 8 * * *",
    # early enough that a run for any day of the data (a backfill, a test on a fake clock) has its tasks
    start_date=pendulum.datetime(2022, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=[Tag.PROJECT, Tag.MONITORING],
    default_args=default_args(),
)
def reporting_reminders():
    @task
    def send_deadline_reminders(logical_date=None) -> int:
        from airflow.sdk import Variable

        from energystat import warehouse
        from energystat.monitoring import reminders
        from energystat.orchestration.glue import alert_urls, reporter_urls

        today = pendulum.instance(logical_date).in_timezone("Asia/Shanghai").date()
        days = Variable.get("energystat_reminder_days_before", default=None)
        sent = reminders.send_reminders(
            warehouse.warehouse_dsn(), today,
            notice_days=int(days) if days else None,
            reporter_urls=reporter_urls(),
            governance_urls=alert_urls(),
        )
        for r in sent:
            print(f"{today}: reminded {r.reporter_code} {r.upload_kind} {r.period} (deadline {r.deadline})")
        return len(sent)

    send_deadline_reminders()


reporting_reminders()
