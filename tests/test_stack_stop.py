"""Stopping the local Airflow stack (`Stack.stop`), with stand-in components: each component's own process gets
the SIGTERM and stops its children itself (the scheduler's LocalExecutor does: a worker killed by a signal sent
to the whole group could leave the others blocked on the executor's queue lock); whatever outlives the grace is
killed with its process group, and a component that was slow to stop is named."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from energystat.orchestration import stack

#: A component with a worker child: on SIGTERM it tells the worker to finish (as LocalExecutor's last message
#: does), waits for it, then exits. The worker notes a SIGTERM of its own in `<dir>/worker_got_sigterm`.
COMPONENT = textwrap.dedent("""
    import multiprocessing, os, signal, sys, time
    out = sys.argv[1]

    def worker(finish):
        signal.signal(signal.SIGTERM, lambda *_: open(os.path.join(out, "worker_got_sigterm"), "w").close())
        finish.wait()

    if __name__ == "__main__":
        finish = multiprocessing.get_context("fork").Event()
        child = multiprocessing.get_context("fork").Process(target=worker, args=(finish,))
        child.start()
        open(os.path.join(out, "worker_pid"), "w").write(str(child.pid))
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
        open(os.path.join(out, "ready"), "w").close()
        while not stopping:
            time.sleep(0.02)
        time.sleep(float(sys.argv[2]))  # its own shutdown work
        finish.set()
        child.join()
""")
#: A component that ignores SIGTERM, with a child that would outlive it.
STUBBORN = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(os.path.join(sys.argv[1], "child_pid"), "w").write(str(child.pid))
    open(os.path.join(sys.argv[1], "ready"), "w").close()
    time.sleep(600)
""")


def _component(tmp_path: Path, name: str, code: str, *args: str) -> tuple[subprocess.Popen, Path]:
    folder = tmp_path / name
    folder.mkdir()
    process = subprocess.Popen([sys.executable, "-c", code, str(folder), *args], start_new_session=True)
    deadline = time.monotonic() + 30
    while not (folder / "ready").exists():
        assert process.poll() is None and time.monotonic() < deadline, f"{name} did not start"
        time.sleep(0.02)
    return process, folder


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc")
def test_each_component_stops_its_own_children_and_what_outlives_the_grace_is_killed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    running = stack.Stack("LocalExecutor", {}, 0, tmp_path)
    running.processes["scheduler"], scheduler = _component(tmp_path, "scheduler", COMPONENT, "0.1")
    running.processes["triggerer"], triggerer = _component(tmp_path, "triggerer", COMPONENT, "2.5")
    running.processes["api-server"], stubborn = _component(tmp_path, "api-server", STUBBORN)
    workers = [int((folder / "worker_pid").read_text()) for folder in (scheduler, triggerer)]
    child = int((stubborn / "child_pid").read_text())

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=stack.__name__), \
            pytest.MonkeyPatch.context() as patch:
        patch.setattr(stack, "SLOW_STOP_S", 2.0)
        running.stop(grace=4)
    took = time.monotonic() - started

    assert 4 <= took < 8
    assert not running.processes
    deadline = time.monotonic() + 5  # a SIGKILL is delivered, not waited for: give a busy machine a moment
    while any(_alive(pid) for pid in [*workers, child]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in [*workers, child])
    assert not (scheduler / "worker_got_sigterm").exists()  # its component stopped it, no signal of ours
    warnings = [record.getMessage() for record in caplog.records]
    assert any("api-server did not stop within 4 s" in message for message in warnings), warnings
    assert any("triggerer took" in message for message in warnings), warnings
    assert not any("scheduler" in message for message in warnings), warnings


#: A component that notes each SIGTERM in `<dir>/sigterms` and exits a second after the first one.
COUNTING = textwrap.dedent("""
    import os, signal, sys, time
    got = []
    def note(*_):
        got.append(time.monotonic())
        open(os.path.join(sys.argv[1], "sigterms"), "a").write("x")
    signal.signal(signal.SIGTERM, note)
    open(os.path.join(sys.argv[1], "ready"), "w").close()
    while not got or time.monotonic() - got[0] < 1:
        time.sleep(0.02)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc")
def test_a_component_stopped_early_gets_one_sigterm(tmp_path: Path) -> None:
    """`stop_early` (the demo stops the triggerer once nothing defers) then `stop`: one SIGTERM, as a second one
    makes an Airflow component force its exit."""
    running = stack.Stack("LocalExecutor", {}, 0, tmp_path)
    running.processes["triggerer"], triggerer = _component(tmp_path, "triggerer", COUNTING)
    running.processes["scheduler"], scheduler = _component(tmp_path, "scheduler", COUNTING)
    running.stop_early("triggerer")
    time.sleep(0.3)
    running.stop()
    assert (triggerer / "sigterms").read_text() == "x"
    assert (scheduler / "sigterms").read_text() == "x"
    assert not running.processes and not running.stopping
