"""The triggerer's corrections (plugins/energystat_listeners.py → energystat.orchestration.triggerer_tuning)."""

from __future__ import annotations

import importlib.util
import sys
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


def _fork_the_trigger_runner(cls: type, **kwargs: object) -> str:
    """Stands for `TriggerRunnerSupervisor.start`, which forks the trigger runner."""
    import threading

    THREADS_AT_FORK[:] = [thread.name for thread in threading.enumerate()]
    return "supervisor"


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
    assert runner.TriggerRunnerSupervisor.start() == "supervisor"
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
