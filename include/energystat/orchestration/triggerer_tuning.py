"""Three corrections to Airflow 3.3's triggerer, applied as it starts (the listener in
`plugins/energystat_listeners.py`); they matter wherever many tasks end in the triggerer, as build_marts' ≈ 100
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
- `answer_the_trigger_runner_without_deadlock`: the triggerer answers its trigger runner's requests with a
  blocking `sendall` on their socket, and reads the runner's logs only between answers. When ≈ 100 triggers
  started at once (an 80,000-institution build_marts run), the runner's logs filled their socket (213 KB) while
  the answer carrying the new triggers filled the other (220 KB): each process waited for the other to read, the
  triggerer stopped heartbeating, every node task stayed deferred and the run never ended. While the runner does
  not read, the triggerer now reads its logs, stdout and stderr (never its requests: an answer is being written).
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
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


class DrainingRequestChannel:
    """The triggerer's end of its trigger runner's request socket, whose `sendall` reads the runner's other
    channels (the selector's handlers, as `_service_subprocess` calls them) while the runner reads no answer."""

    def __init__(self, requests: socket.socket, selector: selectors.BaseSelector) -> None:
        self.requests, self.selector = requests, selector

    def __getattr__(self, name: str) -> Any:  # close, fileno, recv … as the socket's own
        return getattr(self.requests, name)

    def sendall(self, data: bytes) -> None:
        unsent = memoryview(data)
        while unsent:
            try:
                unsent = unsent[self.requests.send(unsent, socket.MSG_DONTWAIT):]
            except BlockingIOError:
                self._read_other_channels_until_writable()

    def _read_other_channels_until_writable(self) -> None:
        others = {key.fileobj: key.data for key in self.selector.get_map().values()
                  if key.fileobj.fileno() != self.requests.fileno()}
        with selectors.DefaultSelector() as waiting:  # epoll: no limit on descriptor numbers, unlike select()
            waiting.register(self.requests, selectors.EVENT_WRITE)
            for channel in others:
                waiting.register(channel, selectors.EVENT_READ)
            ready = [key.fileobj for key, _ in waiting.select(timeout=1.0) if key.fileobj in others]
        for channel in ready:
            handle, on_close = others[channel]
            try:
                more = handle(channel)
            except (BrokenPipeError, ConnectionResetError):
                more = False
            if not more:
                on_close(channel)
                channel.close()


def answer_the_trigger_runner_without_deadlock() -> None:
    """Give each trigger runner the triggerer starts a `DrainingRequestChannel` for its answers."""
    from airflow.jobs import triggerer_job_runner as runner

    start = runner.TriggerRunnerSupervisor.__dict__["start"].__func__
    if getattr(start, "energystat_draining", False):
        return

    def start_with_a_draining_request_channel(cls: type, *args: Any, **kwargs: Any) -> Any:
        supervisor = start(cls, *args, **kwargs)
        supervisor.stdin = DrainingRequestChannel(supervisor.stdin, supervisor.selector)
        return supervisor

    start_with_a_draining_request_channel.energystat_draining = True  # type: ignore[attr-defined]
    runner.TriggerRunnerSupervisor.start = classmethod(start_with_a_draining_request_channel)  # type: ignore[method-assign]
