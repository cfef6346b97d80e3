"""The read-ahead of a night's files (`ingest.read_ahead`): order, how far ahead it reads, errors, stopping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from energystat.ingest import bounded
from energystat.ingest.read_ahead import Killable, ReadAhead

LIMITS = bounded.ReaderLimits(memory_bytes=512 << 20, seconds=60)


def _rows(result: tuple[int, int]) -> int:
    return result[1]


def test_results_come_in_the_items_order_however_the_readers_finish() -> None:
    def read(item: int, started: Callable[[Killable], None]) -> tuple[int, int]:
        time.sleep(0.05 * (item % 3))  # later items often finish first
        return item, 1

    with ReadAhead(range(20), read, _rows, readers=4, budget_rows=100) as reading:
        assert [item for item, _ in reading] == list(range(20))


def test_readers_go_on_while_the_consumer_is_busy_and_stop_at_the_budget() -> None:
    """While the run validates a chunk, files beyond the readers' count are read, up to the budget of rows."""
    read_so_far: list[int] = []
    lock = threading.Lock()

    def read(item: int, started: Callable[[Killable], None]) -> tuple[int, int]:
        with lock:
            read_so_far.append(item)
        return item, 10

    with ReadAhead(range(100), read, _rows, readers=2, budget_rows=50) as reading:
        taken = iter(reading)
        assert next(taken) == (0, 10)
        time.sleep(0.5)  # the consumer "validates"
        ahead = len(read_so_far)
        # 5 results of 10 rows fill the budget; each of the 2 readers may finish one more item it had taken.
        assert 6 <= ahead <= 1 + 5 + 2, read_so_far
        assert [item for item, _ in taken] == list(range(1, 100))


def test_an_error_of_one_read_is_raised_at_its_item() -> None:
    def read(item: int, started: Callable[[Killable], None]) -> tuple[int, int]:
        if item == 3:
            raise ValueError("bug in reading item 3")
        return item, 1

    got = []
    with pytest.raises(ValueError, match="item 3"), ReadAhead(range(10), read, _rows, readers=2,
                                                              budget_rows=5) as reading:
        for item, _ in reading:
            got.append(item)
    assert got == [0, 1, 2]


def test_stopping_early_kills_the_readers_still_running() -> None:
    """A run that stops early (the warehouse went away) leaves no reader process behind, and returns at once."""
    calls: list[bounded.BoundedCall] = []

    def read(item: int, started: Callable[[Killable], None]) -> tuple[int, int]:
        call = bounded.start_bounded(time.sleep, 0 if item == 0 else 60, limits=LIMITS)
        calls.append(call)
        started(call)
        try:
            call.result()
        except bounded.ReaderFailed:
            return item, 0
        return item, 1

    started_at = time.monotonic()
    with ReadAhead(range(10), read, _rows, readers=2, budget_rows=100) as reading:
        assert next(iter(reading)) == (0, 1)
        while len(calls) < 3:  # item 0, then 1 and 2 sleeping in their readers
            time.sleep(0.05)
    assert time.monotonic() - started_at < 30
    assert len(calls) == 3 and not any(c.child.is_alive() for c in calls)


def test_a_nights_chunks_start_small_grow_and_taper_at_the_end(tmp_path, monkeypatch):
    """Files are validated in chunks of about ENERGYSTAT_VALIDATE_CHUNK_ROWS rows: the first an eighth, a quarter,
    a half of it (validation starts early), the last no more than half the rows still to come (little is left once
    the files are parsed); every file once, in order."""
    from fixtures_uploads import monthly_row, write_csv

    from energystat.ingest import run
    from energystat.ingest.landing import discover

    monkeypatch.setenv("ENERGYSTAT_VALIDATE_CHUNK_ROWS", "80")
    root = tmp_path / "landing"
    for month in range(1, 13):
        period = f"2024-{month:02d}"
        for reporter in ("450100", "450200", "450300"):
            write_csv(root / reporter / period / f"{reporter}_{period}_能源资源消费月报.csv",
                      [monthly_row(n, period, reporter) for n in range(10)])
    files = list(enumerate(discover(root)))
    chunks = [[f.rel_path for _, f in group] for group, _parsed in run._parsed_chunks(files, root, {})]
    rows = [10 * len(chunk) for chunk in chunks]
    assert [path for chunk in chunks for path in chunk] == [f.rel_path for _, f in files]
    assert rows[:4] == [10, 20, 40, 80]
    assert max(rows) == 80
    assert rows[-1] == 10 and rows[-2] <= 20, rows
