"""A small client of Airflow 3's REST API: log in, unpause, trigger, wait for runs, read task instances and logs.

Standard library only (no Airflow import), so any energystat process can drive a running Airflow: `make demo`,
the integration tests, the upload portal. Authentication is the simple auth manager's: `POST /auth/token`
with user and password gives a bearer token (renewed when it expires).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

#: Run states after which a run changes no more.
FINISHED_RUN_STATES = frozenset({"success", "failed"})
PAGE = 100  # the API's default [api] maximum_page_limit
#: What `/api/v2/monitor/health` reports on.
COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
#: Seconds between two looks at a run while waiting for it: each GET cost the API server ≈ 45 ms of CPU
#: (measured on a busy 2-core machine), so faster polling takes more from the tasks than it saves.
POLL_S = 1.0


class AirflowApiError(RuntimeError):
    """An HTTP error from the API, with the method, path, status and the API's explanation."""


@dataclass
class AirflowClient:
    """Airflow's REST API at `base_url` (e.g. http://localhost:8080), logged in as `username`."""

    base_url: str
    username: str
    password: str
    timeout: float = 60.0
    #: Attempts of a GET that timed out or lost its connection (a busy laptop's API server can stall).
    read_attempts: int = 4
    _token: str | None = field(default=None, repr=False)

    @classmethod
    def from_passwords_file(cls, base_url: str, passwords_file: Path, username: str = "admin") -> AirflowClient:
        """Log in with the password the simple auth manager generated into `passwords_file`."""
        passwords = json.loads(passwords_file.read_text(encoding="utf-8"))
        return cls(base_url.rstrip("/"), username, passwords[username])

    # --- plumbing -----------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any, accept: str, auth: bool) -> Any:
        headers = {"Accept": accept}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        request = Request(self.base_url + path, data=data, headers=headers, method=method)
        attempt = 1
        while True:
            try:
                with urlopen(request, timeout=self.timeout) as response:
                    return self._decode(response.read(), accept)
            except HTTPError:
                raise
            except (TimeoutError, URLError, ConnectionError):
                if method != "GET" or attempt >= self.read_attempts:
                    raise
                attempt += 1
                time.sleep(2 * attempt)

    def _decode(self, payload: bytes, accept: str) -> Any:
        if accept == "application/json":
            return json.loads(payload) if payload else None
        return payload.decode("utf-8", "replace")

    def _send(self, method: str, path: str, body: Any = None, accept: str = "application/json",
              auth: bool = True) -> Any:
        try:
            return self._request(method, path, body, accept, auth)
        except HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:2000]
            if exc.code == 401 and auth and self._token:  # token expired: log in again, once
                self._token = None
                return self._send(method, path, body, accept, auth)
            raise AirflowApiError(f"{method} {path}: HTTP {exc.code}: {detail}") from exc

    def token(self) -> str:
        if not self._token:
            answer = self._send("POST", "/auth/token", {"username": self.username, "password": self.password},
                                auth=False)
            self._token = answer["access_token"]
        return self._token

    def _pages(self, path: str, key: str, **params: Any) -> list[dict]:
        items: list[dict] = []
        while True:
            query = urlencode({**params, "limit": PAGE, "offset": len(items)})
            page = self._send("GET", f"{path}?{query}")
            items.extend(page[key])
            if not page[key] or len(items) >= page["total_entries"]:
                return items

    # --- health and DAGs ----------------------------------------------------------------------------------

    def health(self) -> dict:
        """`/api/v2/monitor/health`: the status of the metadata DB, scheduler, triggerer and DAG processor."""
        return self._send("GET", "/api/v2/monitor/health", auth=False)

    def warm_up_execution_api(self) -> dict:
        """`/execution/health` of the Task Execution API (what task processes and the triggerer call). The API
        server builds that API's versioned routes on its first request (≈ 3 s of CPU here), which would otherwise
        delay the first task of the first run."""
        return self._send("GET", "/execution/health", auth=False)

    def healthy(self, components: tuple[str, ...] = COMPONENTS) -> bool:
        """Whether every one of `components` reports healthy (one look; raises when the API does not answer)."""
        return all_healthy(self.health(), components)

    def wait_until_healthy(self, timeout: float = 180, components: tuple[str, ...] = COMPONENTS) -> dict:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.health()
                if all_healthy(last, components):
                    return last
            except (URLError, OSError, AirflowApiError) as exc:
                last = exc
            time.sleep(POLL_S)
        raise TimeoutError(f"Airflow at {self.base_url} not healthy after {timeout:.0f} s: {last}")

    def dags(self) -> list[dict]:
        return self._pages("/api/v2/dags", "dags")

    def dag(self, dag_id: str) -> dict:
        return self._send("GET", f"/api/v2/dags/{quote(dag_id)}")

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> dict[str, dict]:
        """Wait until the DAG processor has parsed every DAG of `dag_ids` (and report import errors)."""
        deadline = time.monotonic() + timeout
        while True:
            found = {d["dag_id"]: d for d in self.dags()}
            if set(dag_ids) <= set(found):
                return found
            if time.monotonic() > deadline:
                errors = self._send("GET", "/api/v2/importErrors").get("import_errors", [])
                raise TimeoutError(f"DAGs {sorted(set(dag_ids) - set(found))} not parsed after {timeout:.0f} s; "
                                   f"import errors: {errors}")
            time.sleep(POLL_S)

    def set_paused(self, dag_id: str, paused: bool) -> dict:
        return self._send("PATCH", f"/api/v2/dags/{quote(dag_id)}", {"is_paused": paused})

    # --- runs ---------------------------------------------------------------------------------------------

    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: str | None = None,
                note: str | None = None) -> dict:
        """Create a run of `dag_id` (it starts once the DAG is unpaused)."""
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        if note:
            body["note"] = note
        return self._send("POST", f"/api/v2/dags/{quote(dag_id)}/dagRuns", body)

    def run_once(self, dag_id: str, conf: dict | None = None, note: str | None = None) -> dict:
        """Trigger one run of a paused DAG and unpause it, without a surprise scheduled run next to it.

        Unpausing a time-scheduled DAG makes the scheduler create the run of its latest interval
        (`catchup=False`). Triggering at exactly that logical date first makes our run that one: the
        scheduler finds it and creates no other (if an earlier run holds that date already, it does the same).
        Pause the DAG again when the run is done (`set_paused`).
        """
        logical_date = self.dag(dag_id).get("next_dagrun_logical_date")
        if logical_date and datetime.fromisoformat(logical_date) > datetime.now(UTC):
            logical_date = None  # the next interval is still ahead: unpausing schedules nothing now
        try:
            run = self.trigger(dag_id, conf, logical_date=logical_date, note=note)
        except AirflowApiError as exc:
            if logical_date is None or "HTTP 409" not in str(exc):
                raise
            # An earlier run already holds that date: the scheduler finds it, so ours needs no date.
            run = self.trigger(dag_id, conf, logical_date=None, note=note)
        self.set_paused(dag_id, False)
        return run

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self._pages(f"/api/v2/dags/{quote(dag_id)}/dagRuns", "dag_runs", order_by="id")

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self._send("GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 900, poll: float = POLL_S) -> dict:
        """Wait until the run succeeded or failed; returns the run (its `state` says which)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.dag_run(dag_id, run_id)
            if run["state"] in FINISHED_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f} s")
            time.sleep(poll)

    def wait_for_new_run(self, dag_id: str, known: set[str], timeout: float = 300, poll: float = POLL_S) -> dict:
        """Wait for a run of `dag_id` whose id is not in `known` (e.g. one an Asset event triggered)."""
        deadline = time.monotonic() + timeout
        while True:
            fresh = [r for r in self.dag_runs(dag_id) if r["dag_run_id"] not in known]
            if fresh:
                return fresh[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no new run of {dag_id} after {timeout:.0f} s")
            time.sleep(poll)

    def run_ingestion_and_marts(self, timeout: float = 1800, note: str | None = None) -> tuple[dict, dict]:
        """Run `ingest_monthly_uploads` once and wait for it, then for the `build_marts` run its raw-table
        Asset event triggers (or a manual one when it loaded nothing new); returns both finished runs."""
        self.set_paused("build_marts", False)
        known = {r["dag_run_id"] for r in self.dag_runs("build_marts")}
        ingest = self.run_once("ingest_monthly_uploads", note=note)
        ingest = self.wait_for_run("ingest_monthly_uploads", ingest["dag_run_id"], timeout=timeout)
        if ingest["state"] != "success":
            return ingest, {}
        published = {ti["task_id"]: ti["state"] for ti in self.task_instances(
            "ingest_monthly_uploads", ingest["dag_run_id"])}.get("publish_raw_assets")
        if published == "success":
            marts = self.wait_for_new_run("build_marts", known)
        else:  # nothing new was loaded: no Asset event
            marts = self.trigger("build_marts", note=note)
        return ingest, self.wait_for_run("build_marts", marts["dag_run_id"], timeout=timeout)

    def run_url(self, dag_id: str, run_id: str) -> str:
        """The run's page in the UI."""
        return f"{self.base_url}/dags/{quote(dag_id)}/runs/{quote(run_id)}"

    # --- task instances and logs --------------------------------------------------------------------------

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """Every task instance of the run, mapped ones included (`map_index` >= 0)."""
        return self._pages(f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances",
                           "task_instances")

    def hitl_details(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict:
        """A human-in-the-loop task's question and, once answered, the answer (review_exceptions)."""
        return self._send("GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances"
                                 f"/{quote(task_id)}/{map_index}/hitlDetails")

    def answer_hitl(self, dag_id: str, run_id: str, task_id: str, map_index: int, options: list[str],
                    params_input: dict | None = None) -> dict:
        """Answer a human-in-the-loop task as this client's user (recorded as the responder)."""
        return self._send("PATCH", f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances"
                                   f"/{quote(task_id)}/{map_index}/hitlDetails",
                          {"chosen_options": options, "params_input": params_input or {}})

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The task instance's log as text (one line per structured log event)."""
        path = (f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances/{quote(task_id)}"
                f"/logs/{try_number}?" + urlencode({"full_content": "true", "map_index": map_index}))
        answer = self._send("GET", path)
        lines = []
        for item in answer.get("content", []):
            if isinstance(item, dict):
                lines.append(" ".join(str(item.get(k, "")) for k in ("timestamp", "level", "event") if item.get(k)))
            else:
                lines.append(str(item))
        return "\n".join(lines)


def all_healthy(health: dict, components: tuple[str, ...] = COMPONENTS) -> bool:
    """Whether every one of `components` is healthy in `health` (the answer of `/api/v2/monitor/health`)."""
    return all((health.get(c) or {}).get("status") == "healthy" for c in components)
