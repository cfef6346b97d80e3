"""Read a night's files ahead of the run: `readers` files parsed at a time while the run validates and loads.

The run validates a chunk of files in one GX run (seconds) and then loads it; meanwhile the next files are parsed,
each in its bounded reader process (`ingest.bounded`). A thread per reader starts a file's reader and waits for it
(the parsing happens in the child; the thread only sleeps on a pipe), then takes the next file, so the readers
stay busy however long the run spends on a chunk. Results come back in the files' order, and at most `budget_rows`
parsed rows wait to be taken: about one chunk ahead, which bounds memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Generic, Protocol, TypeVar

I = TypeVar("I")  # noqa: E741 (an item to read)
R = TypeVar("R")


class Killable(Protocol):
    def kill(self) -> None: ...


#: `read(item, started)`: read one item; `started(call)` hands over what to kill should the run stop meanwhile.
Read = Callable[[I, Callable[[Killable], None]], R]


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[I, R]):
    """`read(item)` for every item, in order, `readers` at a time in threads, ahead of the consumer.

    Iterate to take the results in the items' order (an exception `read` raised is raised there, at its item);
    `close()` (or leaving the `with` block) stops the readers still running and waits for their threads.
    """

    def __init__(self, items: Iterable[I], read: Read[I, R], rows: Callable[[R], int], readers: int,
                 budget_rows: int) -> None:
        self._items = iter(items)
        self._read, self._rows, self._budget = read, rows, budget_rows
        self._changed = threading.Condition()
        self._results: dict[int, R | _Raised] = {}
        self._waiting_rows = 0  # rows of results read and not yet taken
        self._taken = 0  # items handed to a reader so far
        self._exhausted = False
        self._stopping = False
        self._running: dict[int, Killable] = {}  # the reader each thread is waiting for
        self._threads = [threading.Thread(target=self._reader, name=f"energystat-read-ahead-{n}", daemon=True)
                         for n in range(max(1, readers))]
        for thread in self._threads:
            thread.start()

    def _reader(self) -> None:
        me = threading.get_ident()
        while True:
            with self._changed:
                # The budget is checked before taking an item, so the item the consumer waits for is always
                # being read, never held back behind later ones.
                self._changed.wait_for(lambda: self._stopping or self._waiting_rows < self._budget)
                if self._stopping or self._exhausted:
                    return
                item = next(self._items, self)
                if item is self:
                    self._exhausted = True
                    self._changed.notify_all()
                    return
                position = self._taken
                self._taken += 1
            try:
                result: R | _Raised = self._read(item, lambda call: self._started(me, call))
                rows = self._rows(result)
            except BaseException as exc:  # the consumer raises it at this item
                result, rows = _Raised(exc), 0
            with self._changed:
                self._running.pop(me, None)
                self._results[position] = result
                self._waiting_rows += rows
                self._changed.notify_all()

    def _started(self, me: int, call: Killable) -> None:
        with self._changed:
            self._running[me] = call
            if self._stopping:
                call.kill()

    def __iter__(self) -> Iterator[R]:
        position = 0
        while True:
            with self._changed:
                self._changed.wait_for(partial(self._answered, position))
                if position not in self._results:
                    return
                result = self._results.pop(position)
                if not isinstance(result, _Raised):
                    self._waiting_rows -= self._rows(result)
                self._changed.notify_all()
            if isinstance(result, _Raised):
                raise result.error
            yield result
            position += 1

    def _answered(self, position: int) -> bool:
        """The item at `position` is read, or there is no such item."""
        return position in self._results or (self._exhausted and position >= self._taken)

    def close(self) -> None:
        """Stop: readers still running are killed, no new item is taken; returns when the threads have ended."""
        with self._changed:
            self._stopping = True
            for call in self._running.values():
                call.kill()
            self._changed.notify_all()
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> ReadAhead[I, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
