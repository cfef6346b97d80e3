"""Trigger `ingest_monthly_uploads` for one reporter and period through Airflow's REST API (when configured).

A minimal client until the shared Airflow REST client lands: `POST /auth/token` (user and password) for a
bearer token, then `POST /api/v2/dags/{dag_id}/dagRuns` with the run's conf.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

INGEST_DAG = "ingest_monthly_uploads"


def _post(url: str, body: dict[str, Any], token: str | None = None, timeout: float = 10) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (URL from settings)
        return json.loads(response.read() or b"{}")


def trigger_ingest(base_url: str, user: str | None, password: str | None, reporter: str, period: str
                   ) -> tuple[str | None, str]:
    """(dag run id, note): the run triggered for the reporter and period, or None and why not."""
    base = base_url.rstrip("/")
    try:
        token = None
        if user:
            token = _post(f"{base}/auth/token", {"username": user, "password": password or ""}).get("access_token")
        run = _post(f"{base}/api/v2/dags/{INGEST_DAG}/dagRuns",
                    {"logical_date": None, "conf": {"reporter": reporter, "period": period}}, token)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"Airflow 触发失败（{type(exc).__name__}: {exc}）；夜间例行运行将处理该文件"
    return run.get("dag_run_id"), f"已触发 Airflow 运行 {run.get('dag_run_id')}"
