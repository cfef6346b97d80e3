"""Airflow's components as local processes: start them with the project's environment, wait, stop them all.

One `Stack` is api-server, scheduler, dag-processor and triggerer, plus N Celery workers when the executor is
CeleryExecutor (`make cluster`; settings from `config/celery.env`, as docker compose). Each component runs
the venv's own `airflow` executable (no PATH needed) in a process group of its own, writes its output to
`<AIRFLOW_HOME>/logs/<component>.log`, and is stopped with its whole group (task processes included) when
the stack stops — also when start-up fails. Servers listen on free ports chosen at start, except the API
server, whose port is asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from energystat.orchestration import WORKER_NAME_ENV, environment, rest
from energystat.orchestration.rest import AirflowClient

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
PRELOADED_AIRFLOW = [sys.executable, "-m", "energystat.orchestration.preload"]
LOCAL = "LocalExecutor"
CELERY = "CeleryExecutor"
#: The project's DAGs, which a started stack waits for.
DAG_IDS = ["ingest_monthly_uploads", "build_marts", "annual_circular"]
WORKER_QUEUES_ENV = "ENERGYSTAT_WORKER_QUEUES"
#: Seconds between readiness checks while the components start (each check is a few requests to the API
#: server, ≈ 45 ms of its CPU each on a busy machine).
READY_POLL_S = 0.5
#: Added to the DAG processor's CPU niceness in a local stack (see `start`).
DAG_PROCESSOR_NICENESS = 10
MAX_NICENESS = 19  # the lowest CPU priority on Linux
#: Seconds after which a component still stopping is reported (most stop within 4 s; a few took 11).
SLOW_STOP_S = 6.0

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port nobody listens on now (bind to port 0 and let the kernel choose)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def migrate_metadata_db(env: Mapping[str, str]) -> None:
    """`airflow db migrate`, skipped when this Airflow version already migrated this database (the command
    costs ~15 s even with nothing to do); its output is shown only when it fails."""
    import hashlib
    from importlib.metadata import version

    marker = Path(env["AIRFLOW_HOME"]) / ".db_migrated"
    database = hashlib.sha256(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].encode()).hexdigest()[:16]
    done_for = f"apache-airflow {version('apache-airflow')} database {database}"
    if marker.exists() and marker.read_text(encoding="utf-8") == done_for:
        return
    done = subprocess.run([AIRFLOW, "db", "migrate"], env=dict(env), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    marker.write_text(done_for, encoding="utf-8")


@dataclass
class Stack:
    """A running set of Airflow components; `stop()` (or leaving the `with` block) ends them all."""

    executor: str
    env: dict[str, str]
    api_port: int
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    stopping: set[str] = field(default_factory=set)  # components sent their SIGTERM (`stop_early`, `stop`)

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.api_port}"

    def client(self) -> AirflowClient:
        return AirflowClient.from_passwords_file(self.base_url, environment.passwords_file(
            Path(self.env["AIRFLOW_HOME"])))

    def spawn(self, name: str, args: list[str], niceness: int = 0, preload: bool = False, **extra_env: str) -> None:
        """Start `airflow <args>` as component `name`, in a process group of its own, `niceness` added to its CPU
        priority (its children, started later, inherit it); `preload`: with the task processes' libraries
        imported first (`orchestration.preload`)."""
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} airflow {' '.join(args)}\n".encode())
        log.flush()
        self.processes[name] = subprocess.Popen(
            [*(PRELOADED_AIRFLOW if preload else [AIRFLOW]), *args], env={**self.env, **extra_env}, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            # Its own process group (killpg ends its children) in the caller's session: a session of its own would
            # be a scheduling group of its own too (Linux autogroup), taking an equal share of the CPU whatever its
            # niceness — the DAG processor's as much as the scheduler's, whose group also holds every task.
            process_group=0,
        )
        log.close()  # the child holds its own descriptor
        if niceness:
            with contextlib.suppress(OSError):  # a priority is a wish, not a requirement
                os.setpriority(os.PRIO_PROCESS, self.processes[name].pid,
                               min(MAX_NICENESS, os.getpriority(os.PRIO_PROCESS, 0) + niceness))

    def start_dag_processor(self) -> None:
        # Nothing a run waits for is the DAG processor's (it re-parses files and takes task callbacks: one parse of
        # build_marts.py per few node tasks a trigger ended, only to drop their success callbacks); on a small
        # machine it competed with the tasks for CPU (the producer's `dbt build` of build_marts ≈ 5 % faster).
        self.spawn("dag-processor", ["dag-processor"], niceness=DAG_PROCESSOR_NICENESS)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"Airflow {name} exited with code {process.returncode}; its output:\n"
                                   + self.log_tail(name))

    def log_tail(self, name: str, chars: int = 4000) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace")[-chars:] if path.exists() else ""

    def wait_ready(self, timeout: float = 240) -> AirflowClient:
        """Wait until the API answers, every component reports healthy and the DAGs are parsed; meanwhile, from
        the API server's first answer, the Task Execution API is warmed up (the API server builds it on its first
        request, ≈ 3 s of CPU, which would otherwise delay the first task of the first run)."""
        deadline = time.monotonic() + timeout
        passwords = environment.passwords_file(Path(self.env["AIRFLOW_HOME"]))
        warming: threading.Thread | None = None
        while True:
            self.check_alive()
            try:
                if passwords.exists():
                    # One try per look: the client's retries (for a busy API server) sleep up to 18 s between tries,
                    # long past the moment the API server starts answering.
                    probe = replace(self.client(), read_attempts=1)
                    health = probe.health()
                    if warming is None:  # as soon as the API server answers, while the other components start
                        warming = threading.Thread(target=probe.warm_up_execution_api, daemon=True)
                        warming.start()
                    if rest.all_healthy(health) and set(DAG_IDS) <= {dag["dag_id"] for dag in probe.dags()}:
                        warming.join()
                        return self.client()
            except (TimeoutError, OSError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {n}\n{self.log_tail(n, 1500)}" for n in self.processes)
                raise TimeoutError(f"Airflow not ready after {timeout:.0f} s\n{tails}")
            time.sleep(READY_POLL_S)

    def stop(self, grace: float = 20) -> None:
        """SIGTERM every component, then SIGKILL its process group and whatever else it left after `grace`
        seconds.

        Only the component's own process gets the SIGTERM: it stops its children itself (the scheduler's
        LocalExecutor hands each worker process a last message and waits for it). A worker killed by a signal
        sent to the whole group while it held the executor's queue lock left the others blocked on that lock,
        and the scheduler waiting for them (stops of 11 s, or 20 s and a kill)."""
        # Task processes may start sessions of their own (outside the component's group): note every
        # descendant now, to kill what survives the groups.
        descendants = {pid for process in self.processes.values() for pid in _descendants(process.pid)}
        for name in self.processes:
            if name not in self.stopping:  # a second SIGTERM would force Airflow's component to exit at once
                self.stop_early(name)
        started = time.monotonic()
        stopped_after: dict[str, float] = {}
        interrupted = False
        try:
            while len(stopped_after) < len(self.processes) and time.monotonic() - started < grace:
                for name, process in self.processes.items():
                    if name not in stopped_after and process.poll() is not None:
                        stopped_after[name] = time.monotonic() - started
                time.sleep(0.05)
        except KeyboardInterrupt:  # a second Ctrl-C: no more grace, but still kill everything
            interrupted = True
        for name, process in self.processes.items():
            if name not in stopped_after and not interrupted:
                log.warning("Airflow %s did not stop within %.0f s of SIGTERM: killed", name, grace)
            elif stopped_after.get(name, 0) > SLOW_STOP_S:
                log.warning("Airflow %s took %.1f s to stop (its log: %s)", name, stopped_after[name],
                            self.log_dir / f"{name}.log")
            _signal_group(process, signal.SIGKILL)  # also task processes the component left behind
            process.wait()
        self.processes.clear()
        self.stopping.clear()
        for pid in descendants:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if interrupted:
            raise KeyboardInterrupt

    def stop_early(self, name: str) -> None:
        """SIGTERM component `name` now, ahead of `stop` (which then waits for it with the others)."""
        self.stopping.add(name)
        with contextlib.suppress(ProcessLookupError):
            self.processes[name].send_signal(signal.SIGTERM)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc; an empty set elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat_file.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def stack_environ(executor: str = LOCAL, api_port: int = 8080, **overrides: str) -> dict[str, str]:
    """The environment of every component of a local stack (the project's, plus executor and ports)."""
    saved = dict(os.environ)
    try:
        os.environ.update(overrides)
        env = {**os.environ, **environment.environ()}
        if executor == CELERY:
            env.update(environment.celery_environ(result_dsn=_libpq(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    env.update(environment.local_stack_environ(env))
    env.update(overrides)
    env.update({
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        # Fixed defaults (8793, 8794) would collide with any other Airflow on the machine.
        "AIRFLOW__LOGGING__TRIGGERER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
    })
    return env


def _libpq(sqlalchemy_uri: str) -> str:
    return "postgresql://" + sqlalchemy_uri.split("://", 1)[1]


def start(executor: str = LOCAL, *, api_port: int | None = None, workers: int = 2, migrate: bool = True,
          wait: bool = True, dag_processor: bool = True, **overrides: str) -> Stack:
    """Start the components (and `workers` Celery workers for CeleryExecutor); stops them all on failure.

    `api_port=None` picks a free port; `overrides` are environment variables (e.g. a test's warehouse DSN).
    `dag_processor=False` leaves the DAG processor to `Stack.start_dag_processor` (for a caller still writing
    what the DAG files read, such as dbt's manifest); `wait` is then ignored: wait once it started.
    """
    port = api_port or free_port()
    env = stack_environ(executor, port, **overrides)
    log_dir = Path(env["AIRFLOW_HOME"]) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(executor, env, port, log_dir)
    try:
        if migrate:
            migrate_metadata_db(env)
        # All at once: each start is mostly an Airflow import (≈ 7 s). Task processes call the API server's
        # execution API as they start; one the scheduler runs before the API server listens (a left-over of an
        # interrupted run) retries its calls (environment.LOCAL_STACK_SETTINGS) rather than failing.
        stack.spawn("api-server", ["api-server", "--port", str(port)])
        # A LocalExecutor scheduler forks every task process: it imports their libraries once for all of them.
        stack.spawn("scheduler", ["scheduler"], preload=executor == LOCAL)
        if dag_processor:
            stack.start_dag_processor()
        stack.spawn("triggerer", ["triggerer"])
        if executor == CELERY:
            queues = env.get(WORKER_QUEUES_ENV) or env.get("AIRFLOW__OPERATORS__DEFAULT_QUEUE", "default")
            for number in range(1, workers + 1):
                name = f"worker{number}"
                stack.spawn(name, ["celery", "worker", "--celery-hostname", f"{name}@%h", "--queues", queues],
                            **{WORKER_NAME_ENV: f"{name}@{socket.gethostname()}",
                               "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())})
        if wait and dag_processor:
            stack.wait_ready()
    except BaseException:
        stack.stop()
        raise
    return stack
