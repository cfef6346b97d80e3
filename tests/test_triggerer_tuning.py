"""The triggerer's corrections (plugins/energystat_listeners.py → energystat.orchestration.triggerer_tuning)."""

from __future__ import annotations

import contextlib
import importlib.util
import selectors
import socket
import sys
import threading
from types import SimpleNamespace

import pytest

from energystat import config


def _listener() -> object:
    spec = importlib.util.spec_from_file_location("energystat_listeners",
                                                  config.PLUGINS_DIR / "energystat_listeners.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    [listener] = module.EnergystatListeners.listeners
    return listener


#: Threads alive when the triggerer forked its trigger runner (`_fork_the_trigger_runner`).
THREADS_AT_FORK: list[str] = []


def _fork_the_trigger_runner(cls: type, **kwargs: object) -> SimpleNamespace:
    """Stands for `TriggerRunnerSupervisor.start`, which forks the trigger runner."""
    import threading

    THREADS_AT_FORK[:] = [thread.name for thread in threading.enumerate()]
    return SimpleNamespace(stdin=SimpleNamespace(fileno=lambda: 7), selector=selectors.DefaultSelector())


@pytest.fixture
def triggerer_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """The listener called as `airflow triggerer` starts (what it changes is undone afterwards)."""
    from airflow.callbacks.database_callback_sink import DatabaseCallbackSink
    from airflow.jobs import triggerer_job_runner as runner

    monkeypatch.setattr(runner, "in_process_api_server", runner.in_process_api_server)
    monkeypatch.setattr(DatabaseCallbackSink, "send", DatabaseCallbackSink.send)
    monkeypatch.setattr(runner.TriggerRunnerSupervisor, "start", classmethod(_fork_the_trigger_runner))
    listener = _listener()
    monkeypatch.setattr(sys, "argv", ["airflow", "scheduler"])
    listener.on_starting(component=None)
    assert not getattr(runner.in_process_api_server, "energystat_ahead", False)  # not in other components
    monkeypatch.setattr(sys, "argv", ["airflow", "triggerer"])
    listener.on_starting(component=None)


def test_the_triggerer_gets_its_execution_api_built_ahead(triggerer_started: None) -> None:
    """Built in a thread started once the trigger runner was forked: a fork while the thread held an import's
    lock left the runner waiting for that lock forever (seen in `make demo`: every node task stayed deferred)."""
    import threading

    from airflow.jobs import triggerer_job_runner as runner

    assert not [t for t in threading.enumerate() if t.name == "energystat-execution-api-ahead"]
    runner.TriggerRunnerSupervisor.start()
    assert "energystat-execution-api-ahead" not in THREADS_AT_FORK
    [builder] = [t for t in threading.enumerate() if t.name == "energystat-execution-api-ahead"]
    builder.join(60)
    api = runner.in_process_api_server()  # what the triggerer's client is made from

    assert api.app._cadwyn_initialized  # its versioned routes are built: its first request will not build them
    assert runner.in_process_api_server() is api
    response = runner.TriggerRunnerSupervisor.make_client(object()).get("health/ping")  # type: ignore[arg-type]
    assert response.status_code == 200


def test_the_triggerer_sends_only_callbacks_the_dag_processor_runs(triggerer_started: None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A task a trigger ended: its failure and retry callbacks reach the DAG processor (the alerts), its
    success callback does not — the DAG processor of this Airflow would parse the DAG file only to ignore it."""
    from airflow.callbacks import database_callback_sink
    from airflow.callbacks.callback_requests import TaskCallbackRequest
    from airflow.callbacks.database_callback_sink import DatabaseCallbackSink
    from airflow.dag_processing import processor
    from airflow.utils.state import TaskInstanceState

    def request(state: TaskInstanceState) -> TaskCallbackRequest:
        return TaskCallbackRequest.model_construct(task_callback_type=state, filepath="build_marts.py")

    added: list[object] = []
    session = SimpleNamespace(add=lambda row: added.append(row.task_callback_type))
    monkeypatch.setattr(database_callback_sink, "DbCallbackRequest", lambda callback, priority_weight: callback)
    for state in (TaskInstanceState.SUCCESS, TaskInstanceState.FAILED, TaskInstanceState.UP_FOR_RETRY):
        DatabaseCallbackSink().send(request(state), session=session)
    assert added == [TaskInstanceState.FAILED, TaskInstanceState.UP_FOR_RETRY]

    # Why dropping it loses nothing: the DAG processor returns before it even looks at the DAG (None here).
    warnings: list[str] = []
    ti = SimpleNamespace(dag_id="build_marts", task_id="dbt.a.run", run_id="r1", id="x")
    success = TaskCallbackRequest.model_construct(task_callback_type=TaskInstanceState.SUCCESS, ti=ti)
    log = SimpleNamespace(warning=lambda message, **_: warnings.append(message))
    processor._execute_task_callbacks(None, success, log)
    assert warnings == ["Task callback requested but is not a failure callback"]


def test_the_triggerer_answers_its_trigger_runner_on_a_draining_channel(triggerer_started: None) -> None:
    from airflow.jobs import triggerer_job_runner as runner

    from energystat.orchestration.triggerer_tuning import DrainingRequestChannel

    supervisor = runner.TriggerRunnerSupervisor.start()
    assert isinstance(supervisor.stdin, DrainingRequestChannel)
    assert supervisor.stdin.fileno() == 7  # the request socket's, for the selector


LOGS_BYTES = 600_000  # each more than a Unix socket holds (≈ 210 KB here)
ANSWER_BYTES = 900_000


@pytest.mark.parametrize("draining", [True, False], ids=["draining-channel", "airflow-sendall"])
def test_an_answer_reaches_a_trigger_runner_that_is_writing_logs(draining: bool) -> None:
    """What hung an 80,000-institution build_marts run: the trigger runner writes more logs than their socket
    holds before it reads its next answer, while the triggerer sends an answer larger than its socket holds.
    Airflow's blocking `sendall` waits for a reader that waits for it; the draining channel reads the logs (with
    the handler the triggerer registered for them) and the answer arrives whole."""
    from energystat.orchestration.triggerer_tuning import DrainingRequestChannel

    requests, runner_requests = socket.socketpair()
    logs, runner_logs = socket.socketpair()
    read_logs: list[bytes] = []

    def forward_logs(channel: socket.socket) -> bool:
        chunk = channel.recv(65536)
        read_logs.append(chunk)
        return bool(chunk)

    def ignore_requests(channel: socket.socket) -> bool:
        raise AssertionError("a request was read while an answer was being written")

    selector = selectors.DefaultSelector()
    selector.register(logs, selectors.EVENT_READ, (forward_logs, selector.unregister))
    selector.register(requests, selectors.EVENT_READ, (ignore_requests, selector.unregister))
    received = bytearray()

    def trigger_runner() -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # Airflow's sendall gave up (the test closed the sockets)
            read_answer()

    def read_answer() -> None:
        runner_requests.sendall(b"r")  # a request is waiting on the triggerer's side too
        runner_logs.sendall(b"L" * LOGS_BYTES)  # blocks until the triggerer reads its logs
        while len(received) < ANSWER_BYTES and (chunk := runner_requests.recv(65536)):
            received.extend(chunk)

    runner_thread = threading.Thread(target=trigger_runner, daemon=True)
    runner_thread.start()
    answer = bytes(range(256)) * (ANSWER_BYTES // 256) + b"x" * (ANSWER_BYTES % 256)
    if draining:
        DrainingRequestChannel(requests, selector).sendall(answer)
        runner_thread.join(30)
        assert bytes(received) == answer
        while len(b"".join(read_logs)) < LOGS_BYTES:  # the rest, as the triggerer's loop reads it afterwards
            forward_logs(logs)
        assert b"".join(read_logs) == b"L" * LOGS_BYTES
    else:
        requests.settimeout(3)
        with pytest.raises(TimeoutError):  # stands for "forever"
            requests.sendall(answer)
    requests.close(), logs.close()  # the triggerer's ends first: the runner's blocked write ends
    runner_thread.join(30)
    runner_requests.close(), runner_logs.close()
