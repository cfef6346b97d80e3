"""Two corrections to Airflow 3.3's triggerer, applied as it starts (the listener in
`plugins/energystat_listeners.py`); both matter wherever many tasks end in the triggerer, as build_marts' ≈ 100
dbt node tasks do (`energystat.orchestration.dbt_watcher`).

- `build_execution_api_ahead`: the triggerer answers its triggers' XCom and task-state reads through an
  in-process copy of the Task Execution API, which builds its versioned routes (Cadwyn) on the first request:
  ≈ 5 s of CPU, paid in the first run with a deferred task — in `make demo`, while build_marts' `dbt build`
  needs the same two cores. A thread of the lowest CPU priority builds them as the triggerer starts instead,
  once the triggerer forked its trigger runner: a fork while the thread held a lock (an import's) left the runner
  waiting for it forever.
- `drop_callbacks_the_dag_processor_ignores`: for every task a trigger ends the triggerer asks the DAG processor
  to run the task's callback, success included (`models/trigger.py`, `handle_event_submit`); the DAG processor
  runs only failure and retry callbacks (`dag_processing/processor.py`, `_execute_task_callbacks`), and parsed
  build_marts.py ≈ 25 times per run (≈ 12–17 s of CPU) only to log that it ignores a success callback. The
  triggerer no longer sends those; failure and retry callbacks — the alerts — go as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from concurrent.futures import Future
from typing import Any

log = logging.getLogger(__name__)

MAX_NICENESS = 19  # the lowest CPU priority on Linux


def in_the_triggerer() -> bool:
    """Whether this process is `airflow triggerer` (listeners are called in every Airflow component)."""
    return sys.argv[1:2] == ["triggerer"]


def build_execution_api_ahead() -> None:
    """Once the triggerer started its trigger runner, build the in-process Task Execution API's routes in a thread
    of the lowest CPU priority (it takes CPU the machine has to spare); the triggerer's own call for its API gets
    that one once built, or builds its own."""
    from airflow.jobs import triggerer_job_runner as runner

    build = runner.in_process_api_server
    if getattr(build, "energystat_ahead", False):
        return
    built: Future[Any] = Future()
    start_runner = runner.TriggerRunnerSupervisor.__dict__["start"].__func__

    def build_routes() -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: a thread's own niceness; elsewhere as it is
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), MAX_NICENESS)
        try:
            api = build()
            api.app._cadwyn_initialize()  # what its first request would do (no request: that would start the
            built.set_result(api)  # API's event loop thread, which would keep this thread's low priority)
        except BaseException as error:  # noqa: BLE001 — the triggerer then builds its own
            built.set_exception(error)

    def in_process_api_server() -> Any:
        if built.done() and built.exception() is None:
            return built.result()
        if built.done():
            log.warning("building the in-process Task Execution API ahead failed", exc_info=built.exception())
        return build()  # not built yet (a busy machine): not worth waiting for a thread of the lowest priority

    def start_runner_then_build(cls: type, *args: Any, **kwargs: Any) -> Any:
        supervisor = start_runner(cls, *args, **kwargs)  # the fork: only the parent returns here
        threading.Thread(target=build_routes, name="energystat-execution-api-ahead", daemon=True).start()
        return supervisor

    in_process_api_server.energystat_ahead = True  # type: ignore[attr-defined]
    runner.in_process_api_server = in_process_api_server
    runner.TriggerRunnerSupervisor.start = classmethod(start_runner_then_build)  # type: ignore[method-assign]


def drop_callbacks_the_dag_processor_ignores() -> None:
    """Make this process's callback sink drop task callback requests that are not failure or retry callbacks."""
    from airflow.callbacks.callback_requests import TaskCallbackRequest
    from airflow.callbacks.database_callback_sink import DatabaseCallbackSink

    send = DatabaseCallbackSink.send
    if getattr(send, "energystat_patched", False):
        return

    def send_unless_ignored(self: Any, callback: Any, **kwargs: Any) -> None:
        if isinstance(callback, TaskCallbackRequest) and not callback.is_failure_callback:
            return
        send(self, callback, **kwargs)

    send_unless_ignored.energystat_patched = True  # type: ignore[attr-defined]
    DatabaseCallbackSink.send = send_unless_ignored  # type: ignore[method-assign]
