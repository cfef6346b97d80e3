"""The test harness itself: a test run stopped by SIGTERM still tears its fixtures down (tests/sigterm_teardown.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

A_TEST_THAT_HOLDS_A_FIXTURE = textwrap.dedent("""
    import pathlib, time
    import pytest

    @pytest.fixture
    def held():
        yield
        pathlib.Path("torn_down").write_text("yes")

    def test_runs_until_stopped(held):
        pathlib.Path("running").write_text("yes")
        time.sleep(120)
""")


@pytest.mark.parametrize("plugin", [True, False], ids=["with-plugin", "python-default"])
def test_a_sigterm_still_runs_the_fixtures_teardown(tmp_path: Path, plugin: bool) -> None:
    (tmp_path / "test_held.py").write_text(A_TEST_THAT_HOLDS_A_FIXTURE)
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "test_held.py"]
    if plugin:
        args[3:3] = ["-p", "sigterm_teardown"]
    run = subprocess.Popen(args, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(HERE)},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not (tmp_path / "running").exists():
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    output = run.communicate(timeout=60)[0].decode()
    assert (tmp_path / "torn_down").exists() is plugin, output
