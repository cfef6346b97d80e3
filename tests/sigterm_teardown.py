"""pytest plugin: a SIGTERM ends the run as Ctrl-C does, so fixtures still tear down.

Python's default for SIGTERM is to die at once; a run stopped by `timeout`, CI's job limit or a closed terminal would
then skip every teardown and leave behind the Airflow stacks, mail/webhook servers and databases tests started
(two forgotten stacks once took the CPU from a benchmark for an hour).
"""

from __future__ import annotations

import signal
from types import FrameType

import pytest


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    signal.signal(signal.SIGTERM, _interrupt)
