"""How build_marts' dbt node tasks follow the one `dbt build` of Cosmos's watcher mode.

In `ExecutionMode.WATCHER` one task (`dbt.dbt_producer_watcher`) runs `dbt build` and publishes every node's
result as an XCom; each model, seed and test keeps a task of its own that reports its node's result. Cosmos
1.15 gives those node tasks two ways to wait, both poor under a real scheduler on a small machine:

- polling in "reschedule" mode: a worker process per poke (an Airflow start and a DAG parse each time), and the
  scheduler can re-queue a poke before the executor reported the previous one, then fails the node (seen in
  `make demo` on a busy 2-core machine);
- deferrable: a worker process to start the task and another to finish it, with ≈ 80 nodes that is ≈ 160 task
  processes competing with the producer's `dbt build`.

`start_node_tasks_in_the_triggerer` makes each node task start in the triggerer instead (Airflow's
`start_from_trigger`): the scheduler hands it straight to the triggerer, where `NodeTrigger` (Cosmos's
`WatcherTrigger`, which polls the producer's XComs) ends the task itself — success, skipped, or failed when dbt
failed its node (the failure alerts: the triggerer sends the failure callback to the DAG processor). A node
task reaches a worker only when dbt has to run again: a retry, a task cleared in the UI, or a producer skipped
on its own retry; it then runs as Cosmos's task does (`execute`: poke, and Cosmos's fall-back `dbt` run).

The graph keeps dbt's lineage, but no node task waits for the tasks upstream of it
(`wait_for_dbt_not_for_upstream_tasks`: `TriggerRule.ALWAYS`): every node task starts with the run and ends as
soon as dbt settled its node. Waiting would add a scheduler and triggerer round trip per level of the chain
(≈ 3 s, however fast dbt was: 16 s after the demo's `dbt build` had ended). dbt orders the work; the tasks upstream
of a node — the tasks of the models it reads and of their tests — are its *gates*, which its trigger consults
where Airflow's dependencies used to decide:

- dbt skipped the node (something it reads failed; Cosmos reports that as failed, so that a retry rebuilds it):
  the task waits for its gates and ends skipped when one was not built (failed, upstream_failed or skipped) —
  no alert of its own, the run fails through the failed task — or fails, to be retried, when they all succeeded;
- the producer failed before reporting the node: the same (only the nodes nothing failed before alert);
- a retry or a cleared task waits until its gates settled, then resumes on a worker to run dbt for its node, or
  ends skipped when a gate was not built;
- a node task ends skipped only once its gates settled: `marts_ready` (all_success) is skipped as soon as a
  task before it is, and would then leave the run successful though a failure was still to come.

`report_tests_beside_downstream_nodes` links the models that read a model to the model's task rather than to the
task of its tests (which links only to `marts_ready`, still gated by every node task): the graph reads as dbt's
lineage, with each model's tests beside it.

The producer pushes a node's dbt event only for the nodes that have a task (`push_only_the_node_events_a_task_reads`)
and keeps every node's status on one board XCom (`publish_a_status_board`, pushed at most once a second);
`NodeTrigger` reads as little as it needs: the producer's state and the board at most once per half poll for all
node triggers of a run together (`SharedRead`: ≈ 80 triggers wake together), dbt's startup events once per run,
no compiled SQL — each read is a turn of the triggerer's loop (≈ 10 queries of its metadata database). A
test spanning several models, for which Cosmos publishes no status, ends with its own dbt result
(`data_test_status`).

`airflow dags test` ignores `start_from_trigger` and runs every task with `execute` in its own loop, one task at a
time: there the node tasks poll in "reschedule" mode (the DAG's `operator_args`), which lets the loop run the
producer between pokes (a deferred task would run its trigger inline and wait for a producer that never starts).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from airflow.triggers.base import (
    StartTriggerArgs,
    TaskFailedEvent,
    TaskSkippedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)
from asgiref.sync import sync_to_async
from cosmos.constants import _DBT_STARTUP_EVENTS_XCOM_KEY
from cosmos.listeners.dag_run_listener import EventStatus
from cosmos.operators._watcher.base import _DBT_ERROR_EVENTS_TYPES, BaseConsumerSensor
from cosmos.operators._watcher.state import (
    DBT_UPSTREAM_FAILURE_SKIP_EVENT_NAMES,
    ProducerTaskState,
    get_dbt_event_xcom_key,
    is_dbt_node_status_terminal,
)
from cosmos.operators._watcher.triggerer import WatcherEventReason, WatcherTrigger

from energystat import dbt_runner

#: Seconds between a node's trigger's first two looks at the producer's state and status board; each wait after
#: is `POLL_GROWTH` times longer, up to `POLL_MAX_S`. The node triggers of a run share their reads (`SharedRead`:
#: a few API round trips a second however many nodes wait), so the wait bounds how late a node task ends after
#: dbt settled its node — and `marts_ready`, which waits for the last one, after the producer ended.
POLL_S = 1.0
POLL_GROWTH = 1.5
POLL_MAX_S = 2.0
#: States of a gating task whose node dbt did not build (or whose test failed): what reads it cannot be built.
NOT_BUILT_STATES = frozenset({"failed", "upstream_failed", "skipped"})
#: Task states after which a gating task will not change without someone clearing it.
SETTLED_STATES = NOT_BUILT_STATES | {"success", "removed"}
#: Attribute of a node task naming the tasks that gate it: the tasks of the nodes it reads and of their tests
#: (set by `report_tests_beside_downstream_nodes` and `wait_for_dbt_not_for_upstream_tasks`).
GATES_ATTRIBUTE = "energystat_gating_tests"
#: XCom in which the producer keeps the last status of every node (`publish_a_status_board`): a node trigger
#: reads it for all the node triggers of its run, one API round trip per poll instead of one per node.
BOARD_XCOM_KEY = "energystat_status_board"
#: The producer's XComs the board mirrors: a node's status, a model's aggregate test status, a node's last event.
BOARD_KEY_SUFFIXES = ("_status", "_dbt_event")
#: Seconds between two pushes of the board while dbt runs: what settles meanwhile goes in the next push (pushing
#: it at every node's event was ≈ 150 more API round trips per build; node triggers look every second or more).
BOARD_PUSH_INTERVAL_S = 1.0


def skipped_by_dbt(last_event: dict[str, Any] | None) -> bool:
    """Whether the producer's last dbt event of a node says dbt skipped it (a node it depends on failed)."""
    return isinstance(last_event, dict) and last_event.get("status") == "skipped"


def data_test_status(last_event: dict[str, Any] | None) -> str | None:
    """A data test's status from its last dbt event, as Cosmos reports a node's: "pass", "warn", "fail", "error"
    …, None while dbt has not finished it; "failed" when dbt skipped it (a node it reads failed), as Cosmos does
    for a skipped model so that a retry runs it (`NodeTrigger.unless_dbt_skipped_it` then looks at its gates)."""
    if not isinstance(last_event, dict) or not last_event.get("status"):
        return None
    return "failed" if skipped_by_dbt(last_event) else str(last_event["status"])


def gate_verdict(states: dict[str, Any], gates: Iterable[str]) -> str | None:
    """For a node dbt did not build: "skipped" when a task gating it failed or was not built itself, "failed"
    (Cosmos's verdict, to be retried) when they all settled otherwise, None while one is still to settle."""
    gate_states = [str(states.get(gate)) for gate in gates]
    if any(state in NOT_BUILT_STATES for state in gate_states):
        return "skipped"
    if all(state in SETTLED_STATES for state in gate_states):
        return "failed"
    return None


class SharedRead:
    """A read of the producer's state or XComs that the node triggers of a run share: one API round trip (each
    is a turn of the triggerer's loop: ≈ 10 database queries) answers every trigger asking meanwhile."""

    def __init__(self, future: asyncio.Future) -> None:
        self.asked, self.answered = time.monotonic(), float("inf")
        self.future = future
        future.add_done_callback(self._answer)

    def _answer(self, future: asyncio.Future) -> None:
        self.answered = time.monotonic()

    def usable(self, asked_since: float) -> bool:
        """Asked since `asked_since` (answered or not yet), and not failed."""
        failed = self.future.done() and (self.future.cancelled() or self.future.exception() is not None)
        return self.asked >= asked_since and not failed


#: (what, dag_id, run_id, producer task id) → the last read of it, shared by the node triggers of a triggerer.
_SHARED_READS: dict[tuple[str, str, str, str], SharedRead] = {}
#: (dag_id, run_id, producer task id) → dbt's startup events (its version lines), logged by each node trigger.
_STARTUP_EVENTS: dict[tuple[str, str, str], Any] = {}


class NodeTrigger(WatcherTrigger):
    """Cosmos's `WatcherTrigger` for a node task started in the triggerer: it takes its DAG run from the task
    instance (the start arguments are fixed when the DAG is parsed) and ends the task itself once the producer
    settled the node. Whatever needs dbt to run again resumes the task on a worker (`execute`)."""

    def __init__(self, model_unique_id: str, producer_task_id: str, poke_interval: float = POLL_S,
                 is_test_sensor: bool = False, dag_id: str = "", run_id: str = "", map_index: int | None = -1,
                 gates: Iterable[str] = (), **_: Any) -> None:
        super().__init__(model_unique_id=model_unique_id, producer_task_id=producer_task_id, dag_id=dag_id,
                         run_id=run_id, map_index=map_index, poke_interval=poke_interval,
                         is_test_sensor=is_test_sensor)
        self.gates = sorted(gates)
        self.looks = 0  # at the node's status so far
        self.answered: dict[str, float] = {}  # what → when the shared read this trigger last acted on was answered

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{__name__}.{type(self).__qualname__}", {**kwargs, "gates": self.gates}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ti = self.task_instance
        if ti is not None:
            self.dag_id, self.run_id, self.map_index = ti.dag_id, ti.run_id, ti.map_index
        if ti is not None and ti.try_number > 1:  # a retry or a cleared task: dbt runs the node again,
            # once what it reads was built again (its task does not wait for them: see the module's docstring)
            if await self.gates_settled() == "skipped":
                yield TaskSkippedEvent()
            else:
                yield TriggerEvent({"status": "rerun"})
            return
        async for event in super().run():
            payload = event.payload
            if self.gates and payload.get("reason") in (WatcherEventReason.NODE_FAILED,
                                                        WatcherEventReason.PRODUCER_FAILED):
                payload = await self.unless_a_gate_was_not_built(payload)
            elif self.gates and payload.get("status") == EventStatus.SKIPPED:
                # Skipped only once its gates settled: `marts_ready` (all_success) is skipped as soon as one task
                # before it is, and the run would succeed though a gate of this node is still to fail.
                await self.gates_settled()
            yield self.end_event(payload)
            return

    async def _shared(self, what: str, read: Callable[[], Awaitable[Any]], asked_since: float) -> Any:
        """`read()`'s answer, from the read of `what` another node trigger of the run asked since `asked_since`
        when there is one (still pending or answered)."""
        key = (what, self.dag_id, self.run_id, self.producer_task_id)
        last = _SHARED_READS.get(key)
        if last is None or not last.usable(asked_since):
            last = _SHARED_READS[key] = SharedRead(asyncio.ensure_future(read()))
        answer = await asyncio.shield(last.future)
        self.answered[what] = last.answered
        return answer

    async def _get_producer_task_status(self) -> str | None:
        """The producer's state, asked at most once per half poll interval for all node triggers of a run (the
        ≈ 10–80 triggers waiting at a time all want the same answer). A state at most that old is safe: the
        node's status is read after it, so "succeeded, no status" stays true."""
        return await self._shared("producer state", lambda: WatcherTrigger._get_producer_task_status(self),
                                  time.monotonic() - self.poke_interval / 2)

    async def get_xcom_val(self, key: str) -> Any | None:
        """Cosmos's XCom read, except that a node's status comes from the run's status board (`_board`) once
        the producer published one, and dbt's startup events are read for all node triggers of a run together
        until found, then kept: the producer pushes them once, before any node's status."""
        if key.endswith(BOARD_KEY_SUFFIXES) and (board := await self._board()) is not None:
            return board.get(key)
        if key != _DBT_STARTUP_EVENTS_XCOM_KEY:
            return await super().get_xcom_val(key)
        run = (self.dag_id, self.run_id, self.producer_task_id)
        if run not in _STARTUP_EVENTS:
            events = await self._shared(key, lambda: WatcherTrigger.get_xcom_val(self, key),
                                        time.monotonic() - self.poke_interval / 2)
            if not events:
                return events
            _STARTUP_EVENTS[run] = events
        return _STARTUP_EVENTS[run]

    async def _board(self) -> dict[str, Any] | None:
        """The producer's status board (None before its first node settled), read at most once per half poll
        interval for all node triggers of the run, and always after the producer's state they act on was
        answered: a board read after "the producer succeeded" holds every node it reported."""
        return await self._shared(BOARD_XCOM_KEY, lambda: WatcherTrigger.get_xcom_val(self, BOARD_XCOM_KEY),
                                  max(time.monotonic() - self.poke_interval / 2,
                                      self.answered.get("producer state", float("-inf"))))

    def look_again_later(self) -> None:
        """Wait `POLL_GROWTH` times longer before the next look (Cosmos's loop sleeps `poke_interval`)."""
        self.poke_interval = min(self.poke_interval * POLL_GROWTH, max(POLL_MAX_S, self.poke_interval))

    async def _parse_dbt_node_status_and_compiled_sql(self) -> tuple[str | None, str | None]:
        """The node's status (one look per turn of Cosmos's loop, which then sleeps `poke_interval`: see
        `look_again_later`) without its compiled SQL: Cosmos reads that for the task's rendered template on a
        worker, and a node task that ends in the triggerer never has one (the SQL stays in the producer's XComs).

        A test spanning several models has a task of its own, but Cosmos 1.15 publishes no status for it: its
        trigger would poll until the producer ended and then take the producer's verdict (every such test failed
        when any test of the build failed). Its status is the one of its last dbt event instead."""
        if self.looks:
            self.look_again_later()
        self.looks += 1
        return await self._node_status(), None

    async def _node_status(self) -> str | None:
        if self.is_test_sensor and self.model_unique_id.startswith("test."):
            return data_test_status(await self.get_xcom_val(get_dbt_event_xcom_key(self.model_unique_id)))
        if self.is_test_sensor:
            return (await super()._parse_dbt_node_status_and_compiled_sql())[0]
        return await self._get_node_status()

    async def unless_a_gate_was_not_built(self, failed: dict[str, Any]) -> dict[str, Any]:
        """`failed` (Cosmos's verdict), unless a task gating the node failed or was not built: then dbt did not
        run the node (it skips what reads a failed node; Cosmos reports that as failed, and the tests of a model
        that failed as failed too) and its task is skipped, with no alert of its own."""
        if await self.gates_settled() == "skipped":
            self.log.warning("%s was not built: a node or test it depends on failed (%s)", self.model_unique_id,
                             ", ".join(self.gates))
            return {"status": EventStatus.SKIPPED}
        return failed

    async def gates_settled(self) -> str:
        """Wait until every task gating the node settled; `gate_verdict` of their states ("failed" when none
        gates it)."""
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        while True:
            states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
                dag_id=self.dag_id, task_ids=self.gates, run_ids=[self.run_id]) if self.gates else {}
            verdict = gate_verdict(states.get(self.run_id, {}), self.gates)
            if verdict is not None:
                return verdict
            await asyncio.sleep(self.poke_interval)

    def end_event(self, payload: dict[str, Any]) -> TriggerEvent:
        """The event that ends the task for Cosmos's verdict, or the plain event that resumes it on a worker."""
        status, reason = payload.get("status"), payload.get("reason")
        if status == EventStatus.SUCCESS:
            return TaskSuccessEvent()
        if status == EventStatus.SKIPPED:
            return TaskSkippedEvent()
        if status == EventStatus.FAILED and reason == WatcherEventReason.NODE_FAILED:
            self.log.error("dbt failed %s: see the log of task %s", self.model_unique_id, self.producer_task_id)
            return TaskFailedEvent()
        if status == EventStatus.FAILED and reason == WatcherEventReason.PRODUCER_FAILED:
            self.log.error("%s failed before reporting %s: see its log", self.producer_task_id, self.model_unique_id)
            return TaskFailedEvent()
        return TriggerEvent(payload)  # the producer was skipped: Cosmos runs dbt for the node on a worker


def start_node_tasks_in_the_triggerer(tasks: Iterable[Any], poll_s: float = POLL_S) -> int:
    """Make every Cosmos watcher node task among `tasks` start in the triggerer with a `NodeTrigger`; returns how
    many. The producer and other tasks are left as they are."""
    count = 0
    for task in tasks:
        if not isinstance(task, BaseConsumerSensor):
            continue
        task.start_from_trigger = True
        task.start_trigger_args = StartTriggerArgs(
            trigger_cls=f"{__name__}.{NodeTrigger.__qualname__}",
            trigger_kwargs={"model_unique_id": task.model_unique_id, "producer_task_id": task.producer_task_id,
                            "poke_interval": poll_s, "is_test_sensor": task.is_test_sensor,
                            "gates": sorted(getattr(task, GATES_ATTRIBUTE, ()))},
            next_method="execute",
            next_kwargs=None,
            timeout=None,
        )
        count += 1
    return count


def report_tests_beside_downstream_nodes(tasks: Iterable[Any]) -> int:
    """Make the tasks after a node wait for the node's own task instead of the task of its tests; returns how
    many dependencies moved. Each task that lost a test upstream keeps its name in `GATES_ATTRIBUTE` (see the
    module's docstring). Watcher mode only: in local mode each task runs dbt itself and the tests must gate."""
    tasks = list(tasks)
    moved = 0
    for test in tasks:
        group = test.task_group
        if not test.task_id.endswith(".test") or group is None or test.task_id not in group.children:
            continue
        node = [task for task_id, task in group.children.items() if task_id != test.task_id]
        if len(node) != 1:
            continue
        for downstream in [test.dag.get_task(task_id) for task_id in sorted(test.downstream_task_ids)]:
            if downstream.task_id in group.children or not isinstance(downstream, BaseConsumerSensor):
                continue
            test.downstream_task_ids.discard(downstream.task_id)
            downstream.upstream_task_ids.discard(test.task_id)
            node[0].set_downstream(downstream)
            setattr(downstream, GATES_ATTRIBUTE, (*getattr(downstream, GATES_ATTRIBUTE, ()), test.task_id))
            moved += 1
    _skip_polls_of_nodes_dbt_skipped_for_a_failed_test()
    return moved


def wait_for_dbt_not_for_upstream_tasks(tasks: Iterable[Any]) -> int:
    """Make every node task start with the run (`TriggerRule.ALWAYS`) and wait for dbt's verdict on its node,
    not for the tasks of the nodes it reads; returns how many. Those tasks become its gates (`GATES_ATTRIBUTE`):
    what the scheduler's dependencies did, the trigger does (see the module's docstring). Call after
    `report_tests_beside_downstream_nodes`, before `start_node_tasks_in_the_triggerer`."""
    from airflow.sdk import TriggerRule

    count = 0
    for task in tasks:
        if not isinstance(task, BaseConsumerSensor):
            continue
        upstream = {task_id for task_id in task.upstream_task_ids
                    if isinstance(task.dag.get_task(task_id), BaseConsumerSensor)}
        setattr(task, GATES_ATTRIBUTE, tuple(sorted({*getattr(task, GATES_ATTRIBUTE, ()), *upstream})))
        task.trigger_rule = TriggerRule.ALWAYS
        count += 1
    return count


class StatusBoard:
    """One producer run's board: every node's last status, pushed (`push`) at most once per `interval` seconds —
    the first change at once, the ones after it together, `interval` after the previous push — and by `flush`."""

    def __init__(self, push: Callable[[dict[str, Any]], None], interval: float) -> None:
        self.push, self.interval = push, interval
        self.values: dict[str, Any] = {}
        self.pushed_at = float("-inf")
        self.dirty = False
        self.pending: threading.Timer | None = None
        self.lock = threading.Lock()

    def set(self, key: str, value: Any) -> None:
        with self.lock:
            self.values[key] = value
            self.dirty = True
            if self.pending is not None:
                return
            wait = self.pushed_at + self.interval - time.monotonic()
            if wait <= 0:
                self._push()
            else:
                self.pending = threading.Timer(wait, self.flush)
                self.pending.daemon = True
                self.pending.start()

    def publish(self) -> None:
        """Push the board as it is, now (an empty one tells the node triggers their statuses will be on it)."""
        with self.lock:
            self._push()

    def flush(self) -> None:
        """Push what changed since the last push, now."""
        with self.lock:
            if self.pending is not None:
                self.pending.cancel()
                self.pending = None
            if self.dirty:
                self._push()

    def _push(self) -> None:
        self.push(dict(self.values))
        self.pushed_at, self.dirty = time.monotonic(), False


def publish_a_status_board() -> None:
    """Make Cosmos's producer keep, beside each node's status XComs, one XCom with all of them
    (`BOARD_XCOM_KEY`: key → value, a node's last event trimmed to its status), pushed at most once a second
    while dbt runs (`StatusBoard`) and once more before the producer ends.

    The node triggers of a run then read one XCom per poll between them instead of one each: ≈ 80 node tasks
    polling every few seconds for the whole build were ≈ 16 API requests a second, each ≈ 25 ms of the
    triggerer's CPU. Cosmos's own XComs stay as they are (a node task on a worker reads them). Called by
    dags/build_marts.py, so the producer's task process has it."""
    from cosmos.operators import watcher
    from cosmos.operators._watcher import aggregation, base, state

    if getattr(base.safe_xcom_push, "energystat_patched", False):
        return
    original: Callable[..., None] = state.safe_xcom_push
    original_execute: Callable[..., Any] = watcher.DbtProducerWatcherOperator.execute
    boards: dict[tuple[str, str, str, int], StatusBoard] = {}
    lock = threading.Lock()

    def run_of(task_instance: Any) -> tuple[str, str, str, int]:
        return task_instance.dag_id, task_instance.run_id, task_instance.task_id, task_instance.try_number

    def board_of(task_instance: Any) -> StatusBoard:
        with lock:
            board = boards.get(run_of(task_instance))
            if board is None:
                board = boards[run_of(task_instance)] = StatusBoard(
                    lambda values: original(task_instance=task_instance, key=BOARD_XCOM_KEY, value=values),
                    BOARD_PUSH_INTERVAL_S)
            return board

    def safe_xcom_push(task_instance: Any, key: str, value: Any) -> None:
        original(task_instance=task_instance, key=key, value=value)
        if key.endswith(BOARD_KEY_SUFFIXES):
            board_of(task_instance).set(
                key, {"status": value.get("status")} if key.endswith("_dbt_event") and isinstance(value, dict)
                else value)

    def execute(self: Any, context: Any, **kwargs: Any) -> Any:
        # Published empty at once: until dbt settles a first node, each node trigger would ask for its own XCom.
        board_of(context["ti"]).publish()
        try:
            return original_execute(self, context, **kwargs)
        finally:  # the board is complete before the producer's state says it ended (NodeTrigger relies on it)
            with lock:
                board = boards.pop(run_of(context["ti"]), None)
            if board is not None:
                board.flush()

    safe_xcom_push.energystat_patched = True  # type: ignore[attr-defined]
    for module in (base, aggregation, watcher):
        module.safe_xcom_push = safe_xcom_push
    watcher.DbtProducerWatcherOperator.execute = execute


def _skip_polls_of_nodes_dbt_skipped_for_a_failed_test() -> None:
    """The same verdict as `NodeTrigger.unless_a_gate_was_not_built` for node tasks that poll on a worker
    (`airflow dags test`): where Cosmos's poke fails a node, it keeps polling while a gate is to settle, and is
    skipped when one was not built."""
    from airflow.sdk.exceptions import AirflowException, AirflowSkipException

    original: Callable[..., bool] = BaseConsumerSensor.poke
    if getattr(original, "energystat_patched", False):
        return

    def poke(self: Any, context: Any) -> bool:
        try:
            return original(self, context)
        except AirflowSkipException:
            if _gates_verdict(self, context) is None:  # skipped only once its gates settled (see NodeTrigger)
                return False
            raise
        except AirflowException:
            verdict = _gates_verdict(self, context)
            if verdict == "skipped":
                raise AirflowSkipException(f"{self.model_unique_id} was not built: a node or test it depends on "
                                           f"failed ({', '.join(getattr(self, GATES_ATTRIBUTE, ()))})") from None
            if verdict == "failed":
                raise
            return False

    def _gates_verdict(self: Any, context: Any) -> str | None:
        gates = getattr(self, GATES_ATTRIBUTE, ())
        if not gates:
            return "failed"
        ti = context["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=list(gates), run_ids=[ti.run_id])
        return gate_verdict(states.get(ti.run_id, {}), gates)

    poke.energystat_patched = True  # type: ignore[attr-defined]
    BaseConsumerSensor.poke = poke


#: dbt events after which a node's `<node>_dbt_event` XCom is pushed: its last one (NodeFinished) or an error.
LAST_NODE_EVENTS = frozenset({"NodeFinished"})


def node_tasks(tasks: Iterable[Any]) -> list[Any]:
    """The Cosmos watcher node tasks among `tasks` (each reports one dbt node; not the producer)."""
    return [task for task in tasks if isinstance(task, BaseConsumerSensor)]


def nodes_with_a_task(dag: Any) -> frozenset[str]:
    """The dbt nodes (unique ids) that have a Cosmos watcher task of their own in `dag`: models, seeds and tests
    spanning several models. A model's other tests are reported by its `.test` task from one aggregate XCom."""
    return frozenset(task.model_unique_id for task in dag.tasks if isinstance(task, BaseConsumerSensor))


def push_only_the_node_events_a_task_reads() -> None:
    """Make Cosmos's producer push a node's `<node>_dbt_event` XCom only from the node's last dbt event, and only
    for a node that has a task of its own.

    The XCom is read only to log a node's last event when the node's task ends (and, by `NodeTrigger`, to tell a
    node dbt skipped). Cosmos 1.15 pushes it on each of a node's NodeStart, NodeCompiling, NodeExecuting and
    NodeFinished events, and for every data test, though a model's tests are reported by its `.test` task from
    the aggregate `<model>_tests_status` XCom: of the ≈ 520 XComs a 600-institution build pushed, 349 were test
    events nobody read, and each push is a round trip to the API server that the producer waits for (its
    `dbt build` returns only once every event is handled: `handle_dbt_events_in_one_thread`). NodeFinished
    (and dbt's error events) carry everything the log shows. Called by dags/build_marts.py, so the producer's
    task process has it.
    """
    from cosmos.operators._watcher import base

    original: Callable[..., Any] = base._process_dbt_log_event
    if getattr(original, "energystat_patched", False):
        return
    pushed_for: dict[int, frozenset[str]] = {}  # id(dag) → nodes_with_a_task(dag)

    def process_dbt_log_event(task_instance: Any, dbt_log: dict[str, Any]) -> None:
        name = (dbt_log.get("info") or {}).get("name")
        if name not in LAST_NODE_EVENTS and name not in base._DBT_ERROR_EVENTS_TYPES:
            return None
        unique_id = ((dbt_log.get("data") or {}).get("node_info") or {}).get("unique_id")
        dag = getattr(getattr(task_instance, "task", None), "dag", None)
        if unique_id and dag is not None:
            if id(dag) not in pushed_for:
                pushed_for[id(dag)] = nodes_with_a_task(dag)
            if unique_id not in pushed_for[id(dag)]:
                return None
        return original(task_instance, dbt_log)

    process_dbt_log_event.energystat_patched = True  # type: ignore[attr-defined]
    base._process_dbt_log_event = process_dbt_log_event


def handle_dbt_events_in_one_thread() -> None:
    """Make Cosmos's producer hand dbt's events to one thread of its own, which parses them and pushes the nodes'
    XComs in the events' order, instead of doing that in dbt's threads.

    Cosmos 1.15 runs its event callback in the dbt thread that fired the event, and pushes XComs under a lock:
    each push is a round trip to the API server, so dbt's threads wait on each other's pushes (the producer's
    `dbt build` took 2–3× a plain one). One thread keeps Cosmos's order and results; the dbt run returns only
    once every event is handled, so the producer succeeds only after its last XCom (the node triggers read "the
    producer succeeded and reported nothing for this node" as "not run"). Called by dags/build_marts.py.
    """
    from cosmos.operators.local import AbstractDbtLocalBase
    from cosmos.operators.watcher import DbtProducerWatcherOperator

    original: Callable[..., Any] = AbstractDbtLocalBase.run_dbt_runner
    if getattr(original, "energystat_patched", False):
        return

    def run_dbt_runner(self: Any, command: list[str], env: dict[str, str], cwd: str, **kwargs: Any) -> Any:
        dbt_runner.reuse_connections_between_nodes()
        callbacks = self._dbt_runner_callbacks
        if not isinstance(self, DbtProducerWatcherOperator) or not callbacks:
            return original(self, command, env, cwd, **kwargs)
        events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        wanted = (lambda event: True) if _cosmos_logs_debug() else cosmos_acts_on

        def enqueue(event: Any) -> None:
            if wanted(event):
                events.put(event)
        errors: list[BaseException] = []

        def handle() -> None:
            while (event := events.get()) is not None:
                for callback in callbacks:
                    try:
                        callback(event)
                    except BaseException as error:  # noqa: BLE001 — raised in the producer once dbt is done
                        errors.append(error)

        handler = threading.Thread(target=handle, name="dbt-events", daemon=True)
        handler.start()
        self._dbt_runner_callbacks = [enqueue]
        try:
            return original(self, command, env, cwd, **kwargs)
        finally:
            self._dbt_runner_callbacks = callbacks
            events.put(None)
            handler.join()
            if errors:
                raise errors[0]

    run_dbt_runner.energystat_patched = True  # type: ignore[attr-defined]
    AbstractDbtLocalBase.run_dbt_runner = run_dbt_runner


#: dbt events Cosmos's producer callback acts on whatever their level: dbt's version lines (logged by each node
#: task), a node's last event (its `_dbt_event` XCom), the skips after a failure, and dbt's errors.
EVENTS_COSMOS_ACTS_ON = frozenset({"MainReportVersion", "AdapterRegistered", *LAST_NODE_EVENTS,
                                   *DBT_UPSTREAM_FAILURE_SKIP_EVENT_NAMES, *_DBT_ERROR_EVENTS_TYPES})


def cosmos_acts_on(event: Any) -> bool:
    """Whether Cosmos's producer callback does anything with dbt event `event` (an `EventMsg`) but log it at
    debug level: an event above debug (its message goes to the task log), one of `EVENTS_COSMOS_ACTS_ON`, or one
    that carries a node's final status (pushed as the node's `_status` XCom).

    A `dbt build` fires some 30 debug events per node (each SQL statement, connection, compilation step: ≈ 6,000
    for the demo's build) that Cosmos converts to JSON and parses only to drop them: that was a tenth of the
    producer's CPU, taken from dbt's threads under the GIL."""
    info = event.info
    if info.level != "debug" or info.name in EVENTS_COSMOS_ACTS_ON:
        return True
    node_info = getattr(event.data, "node_info", None)
    return node_info is not None and is_dbt_node_status_terminal(node_info.node_status or None)


def _cosmos_logs_debug() -> bool:
    """Whether Cosmos logs dbt's debug events (a task log at DEBUG level): then it gets every event."""
    import logging

    from cosmos.operators._watcher import base

    return base.logger.isEnabledFor(logging.DEBUG)


def finish_watcher_polls_when_the_build_succeeded() -> None:
    """Make Cosmos's polling watcher tasks end like its deferred ones once the producer's `dbt build` succeeded.

    Cosmos 1.15 publishes no status for a test spanning several models (a "detached" test task): its trigger
    (deferrable sensors) then reports success once the producer succeeded, but the poke path (the reschedule
    mode of `airflow dags test`, retries) waits forever. A failed build still fails the task (the producer's
    state is failed, so Cosmos's own handling runs). Called by dags/build_marts.py.
    """
    original = BaseConsumerSensor._handle_no_dbt_node_status
    if getattr(original, "energystat_patched", False):
        return

    def handle_no_status(self: Any, producer_task_state: str | None, try_number: int, context: Any) -> bool:
        if producer_task_state == ProducerTaskState.SUCCESS:
            return True
        return original(self, producer_task_state, try_number, context)

    handle_no_status.energystat_patched = True  # type: ignore[attr-defined]
    BaseConsumerSensor._handle_no_dbt_node_status = handle_no_status
