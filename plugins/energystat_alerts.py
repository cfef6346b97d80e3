"""Airflow side of energystat's alerts: where alert URLs come from, and a failure notifier for any task.

URLs: the Airflow Variable `energystat_alert_urls` (or AIRFLOW_VAR_ENERGYSTAT_ALERT_URLS), else the env var
ENERGYSTAT_ALERT_URLS — Apprise URLs such as `mailtos://…`, `wecombot://…`, `dingtalk://…`, `json://…`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import BaseNotifier

ALERT_URLS_VARIABLE = "energystat_alert_urls"


def alert_urls() -> list[str]:
    from airflow.sdk import Variable

    from energystat import alerts

    text = Variable.get(ALERT_URLS_VARIABLE, default=None)
    return alerts.parse_urls(text) if text else alerts.configured_urls()


class TaskFailureAlert(BaseNotifier):
    """on_failure_callback: tells governance/engineering staff (in Chinese) which task failed and why."""

    def notify(self, context) -> None:
        from energystat import alerts

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
