"""One ingestion run at a time per landing tree: a PostgreSQL advisory lock held for the whole run.

Two `energystat ingest` runs started together (an operator and cron, two schedulers) would otherwise both take
the same new files. The lock is a session-level advisory lock keyed by the landing root, held on its own
connection: it is released when the run ends or its process dies (the server drops the session), so a killed
run never leaves a stale lock behind. A second run waits up to `wait_seconds`, then gives up cleanly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from energystat import roles

log = logging.getLogger(__name__)

_NAMESPACE = "energystat-ingest:"


def lock_key(landing: str) -> str:
    return _NAMESPACE + landing.rstrip("/")


@contextmanager
def landing_lock(dsn: str, landing: str, wait_seconds: float = 0.0) -> Iterator[bool]:
    """Yield True while this process holds the landing tree's run lock, False if another run kept it for
    `wait_seconds` (the caller then does nothing and says so)."""
    # as the loader, like the run it guards (advisory locks belong to the database, whichever role takes them)
    conn = psycopg.connect(roles.role_dsn(roles.LOADER, dsn), autocommit=True, application_name="energystat ingest lock")
    try:
        deadline = time.monotonic() + max(0.0, wait_seconds)
        while True:
            held = conn.execute("select pg_try_advisory_lock(hashtextextended(%s, 0))",
                                (lock_key(landing),)).fetchone()[0]
            if held or time.monotonic() >= deadline:
                break
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        if not held:
            log.warning("another ingestion run holds the landing tree %s: nothing done", landing)
        yield bool(held)
    finally:
        conn.close()  # ends the session: the lock goes with it
