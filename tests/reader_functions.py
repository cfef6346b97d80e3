"""Functions the bounded-reader tests run in reader processes. A reader child imports its function's module, so
these live in a module of their own that imports little (the test module imports pytest and the test helpers)."""

from __future__ import annotations

from energystat.ingest.parse import UnreadableFile


def raise_unreadable() -> None:
    raise UnreadableFile("坏文件", "bad file")


def allocate_gigabytes() -> bytearray:
    return bytearray(4 << 30)


def open_calamine(path: str) -> list:
    from python_calamine import CalamineWorkbook

    return CalamineWorkbook.from_path(path).get_sheet_by_index(0).to_python()


def bounded_sum_or_error() -> object:
    """`run_bounded(sum, [1, 2])`, or the error it raised (for a test running it in a pool process)."""
    from energystat.ingest import bounded

    try:
        return bounded.run_bounded(sum, [1, 2], limits=bounded.ReaderLimits(512 << 20, 60))
    except BaseException as exc:  # noqa: BLE001 - the test wants to see whatever happened
        return repr(exc)


def touch_megabytes(n: int) -> int:
    """Hold `n` MiB, written so that they are resident, then let them go."""
    block = bytearray(n << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return n
