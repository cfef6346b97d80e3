"""The Airflow glue every energystat DAG file imports: default_args, the failure notifier, alert URLs, Assets.

This is the one module of the package that imports Airflow (`airflow.sdk` only, cheap at parse time), and
only DAG files import it. Alert URLs come from the Airflow Variable `energystat_alert_urls` (or
AIRFLOW_VAR_ENERGYSTAT_ALERT_URLS), else ENERGYSTAT_ALERT_URLS — Apprise URLs such as `mailtos://…`,
`wecombot://…`, `dingtalk://…`, `json://…`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, BaseNotifier

from energystat import assets
from energystat.ingest import alert as alerts
from energystat.monitoring import channels
from energystat.orchestration.tags import Tag

__all__ = ["HEAVY_QUEUE", "HELD_UPLOADS_ASSET", "MARTS_ASSET", "RAW_ASSETS", "Tag", "TaskFailureAlert", "alert_urls", "default_args",
           "reporter_urls"]

ALERT_URLS_VARIABLE = "energystat_alert_urls"

#: Celery queue of the heavy tasks (Great Expectations validation, dbt): on the CeleryExecutor they can be
#: given workers of their own (`airflow celery worker --queues heavy`); LocalExecutor ignores queues.
HEAVY_QUEUE = "heavy"
#: Celery queue of everything else ([operators] default_queue).
DEFAULT_QUEUE = "default"

#: The raw tables the ingestion DAG updates; `build_marts` is scheduled on them.
RAW_ASSETS = [Asset(assets.RAW_MONTHLY_STATISTICS), Asset(assets.RAW_TASK_PROGRESS)]
#: Emitted by `build_marts` when every model and test passed.
MARTS_ASSET = Asset(assets.MARTS_BUILT)
HELD_UPLOADS_ASSET = Asset(assets.HELD_UPLOADS)


def alert_urls() -> list[str]:
    from airflow.sdk import Variable

    text = Variable.get(ALERT_URLS_VARIABLE, default=None)
    return alerts.parse_urls(text) if text else alerts.configured_urls()


def reporter_urls() -> dict[str, list[str]]:
    """Each reporter's own Apprise URLs: the Airflow Variable `energystat_reporter_alert_urls`, else the env
    (`ENERGYSTAT_REPORTER_ALERT_URLS`); a reporter without any is told through `alert_urls()` (governance)."""
    from airflow.sdk import Variable

    text = Variable.get(channels.REPORTER_URLS_VARIABLE, default=None)
    return channels.parse_reporter_urls(text) if text else channels.configured_reporter_urls()


class TaskFailureAlert(BaseNotifier):
    """on_failure_callback: tells governance/engineering staff (in Chinese) which task failed and why."""

    def notify(self, context) -> None:
        ti = context["ti"]
        title = f"【任务失败】{ti.dag_id}.{ti.task_id}"
        body = "\n".join([
            f"DAG：{ti.dag_id}",
            f"任务：{ti.task_id}（第 {ti.try_number} 次尝试）",
            f"运行：{context.get('run_id')}",
            f"错误：{context.get('exception')!r}",
            "请数据工程人员查看 Airflow 日志。",
        ])
        alerts.send(title, body, alert_urls())


def default_args(**overrides: Any) -> dict[str, Any]:
    """The house defaults of every energystat DAG: an owner, 2 retries, and an alert when a task fails."""
    return {
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "on_failure_callback": TaskFailureAlert(),
        **overrides,
    }
