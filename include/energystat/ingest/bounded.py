"""Run one file's reader in a child process with bounded memory and time, so no file can stop the night.

The readers (python-calamine's Rust code, the csv module, pandas) run on untrusted bytes. A native reader asked to
allocate 512 GB aborts the whole process (SIGABRT, exit 134), a special file can make a read never end, and a
large sheet can take gigabytes. `run_bounded` runs the reader in a reader process (forked by a small fork server
that has the readers' modules imported, so a process costs milliseconds whatever the caller holds, and kept for
the next files while its calls succeed), caps the address space each call may add with `RLIMIT_AS` and its wall
time with a timeout, and turns whatever happens to it into either the function's result or a `ReaderFailed` with
a Chinese and English reason (a P001 finding for the clerk); a reader whose call failed is replaced. `start_bounded`
starts one without waiting, so a run can read the next files while it loads this one.
Platforms without `fork` (Windows) run the function in-process, unbounded.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.spawn
import os
import pickle
import resource
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class ReaderFailed(Exception):
    """The reader could not finish: the message says why in Chinese and English (`zh`, `en`)."""

    def __init__(self, zh: str, en: str, *, unexpected: bool = False) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en
        #: True for a bug or an environment problem (an engineer must look), False for a bad file (the clerk's).
        self.unexpected = unexpected


@dataclass(frozen=True)
class ReaderLimits:
    """How much one file's reader may use: bytes of address space above the parent's, and seconds."""

    memory_bytes: int
    seconds: float


@dataclass(frozen=True)
class ReaderUsage:
    """What the last bounded read used (for logs and the bench)."""

    seconds: float
    peak_rss_bytes: int


last_usage: ReaderUsage | None = None


def _virtual_size() -> int:
    """The process's current address-space size in bytes (what RLIMIT_AS counts)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: no /proc; the limit then counts from zero
        return 0


#: A reader serves this many files, then a fresh one takes over (bounds whatever a reader keeps between files).
READER_CALLS = 200
#: Idle readers kept for the next calls (the run's `parse_ahead` readers, the portal's threads).
IDLE_READERS = 4


def _serve(conn: Any) -> None:
    """A reader process: run the calls its parent sends, one at a time, each under its own memory limit.

    One process serves many files: forking a reader per file cost ≈ 40 ms more than the parse of a small workbook
    (the fork, and the first parse in a fresh process: lazy imports, caches, copy-on-write faults). A call that
    failed in any way ends the process (a reader that ran out of memory, or raised, is not trusted with the next
    file); the parent starts a fresh one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the child stops
    os.environ["RUST_BACKTRACE"] = "0"  # a native reader's abort: one line in the log, not a page of frames
    faulthandler.disable()  # (pytest and `python -X faulthandler` would dump every thread's stack on SIGABRT)
    while True:
        try:
            func, args, kwargs, memory_bytes = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):  # the parent closed the pipe: retired, or gone
            return
        state = _call(conn, func, args, kwargs, memory_bytes)
        if state != "ok":
            return


def _call(conn: Any, func: Callable[..., Any], args: tuple, kwargs: dict, memory_bytes: int) -> str:
    """One call: `memory_bytes` of address space above what the reader holds now, its result sent back with the
    call's peak resident memory."""
    limit = _virtual_size() + memory_bytes
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    _reset_peak_rss()
    try:
        result: tuple[str, Any] = ("ok", func(*args, **kwargs))
    except MemoryError:
        result = ("memory", None)
    except Exception as exc:  # every failure of the reader becomes the file's reason, never the night's
        result = ("error", (type(exc).__name__, str(exc)[:500], getattr(exc, "zh", None), getattr(exc, "en", None)))
    del args, kwargs
    try:
        conn.send_bytes(pickle.dumps((*result, _peak_rss()), protocol=pickle.HIGHEST_PROTOCOL))
    except MemoryError:
        conn.send_bytes(pickle.dumps(("memory", None, _peak_rss())))
        return "memory"
    return result[0]


def _reset_peak_rss() -> None:
    """Start this call's peak resident memory from what the process holds now (Linux: `clear_refs` 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:  # not Linux: the peak then is the process's since it started
        pass


def _peak_rss() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _megabytes(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MB"


def _start(child: multiprocessing.process.BaseProcess) -> None:
    """Start the reader child, whatever process the caller is (see the context managers below). Starts are
    serialised: threads of one process may start readers side by side (`ingest.read_ahead`, the portal)."""
    with _starting:
        _give_plain_authkey(child._config)
        with _allowed_in_a_daemon(), _without_main_module(), _plain_authkey():
            child.start()


_starting = threading.RLock()


@contextlib.contextmanager
def _allowed_in_a_daemon() -> Iterator[None]:
    """Let a daemonic process start the child: Celery's prefork pool runs Airflow tasks in one, and multiprocessing
    refuses children there ("daemonic processes are not allowed to have children") lest they outlive it. This
    child cannot: `BoundedCall.result` joins or kills it."""
    config = multiprocessing.current_process()._config  # its own flag: no public setter on a running process
    daemon = config.get("daemon")
    config["daemon"] = False
    try:
        yield
    finally:
        if daemon:
            config["daemon"] = True


@contextlib.contextmanager
def _plain_authkey() -> Iterator[None]:
    """Celery's pool processes carry billiard's authentication key, which refuses to be pickled, and the fork
    server is sent the caller's and the child's key with every start: hand it multiprocessing's own type of the
    same key."""
    config = multiprocessing.current_process()._config
    key = config.get("authkey")
    _give_plain_authkey(config)
    try:
        yield
    finally:
        if key is not None:
            config["authkey"] = key


def _give_plain_authkey(config: dict[str, Any]) -> None:
    if config.get("authkey") is not None:
        config["authkey"] = multiprocessing.process.AuthenticationString(bytes(config["authkey"]))


@contextlib.contextmanager
def _without_main_module() -> Iterator[None]:
    """Leave the caller's `__main__` out of what the fork server and a child are told to prepare: multiprocessing
    would have them re-run it (the `airflow` or `celery` script, pytest…: seconds per file, and side effects). The
    reader's function lives in an importable module, so nothing needs the caller's main. Only this thread's starts
    are affected (other threads keep running with `__main__` as it is)."""
    _hiding_main.active = True
    try:
        yield
    finally:
        _hiding_main.active = False


_hiding_main = threading.local()


def _preparation_data(name: str) -> dict[str, Any]:
    data = _stdlib_preparation_data(name)
    if getattr(_hiding_main, "active", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


# multiprocessing reads the main module's path here, for the fork server's start and for each child's.
_stdlib_preparation_data = multiprocessing.spawn.get_preparation_data
multiprocessing.spawn.get_preparation_data = _preparation_data


def preload_in_readers(*modules: str) -> None:
    """Modules the reader processes import once, in their fork server (not per file); call before the first read."""
    _preload.update(modules)


_preload: set[str] = set()


def _reader_context() -> multiprocessing.context.BaseContext:
    """Readers fork from a small fork server started on first use, not from the caller: a night's run holds GX
    and the warehouse's history (a gigabyte or more), and forking that per file cost up to seconds (page tables,
    copy-on-write faults in both processes). The server imports `preload_in_readers`'s modules once."""
    context = multiprocessing.get_context("forkserver")
    global _server_ready
    with _starting:
        if not _server_ready:  # its start-up (imports) must not count in the first file's time limit
            context.set_forkserver_preload(sorted(_preload))
            first = context.Process(target=int, daemon=True, name="energystat-reader start-up")
            _start(first)
            first.join()
            _server_ready = True
    return context


_server_ready = False


def _forget_the_fork_server() -> None:
    """After a fork (a Celery pool process forked by a worker that read files before): the parent's fork server is
    not this process's child, and multiprocessing would fail on it ("No child processes"); use a server of its own."""
    global _server_ready
    _server_ready = False
    _idle.clear()  # the parent's readers: not this process's children
    fresh = multiprocessing.forkserver.ForkServer()
    multiprocessing.forkserver._forkserver = fresh
    for name in ("ensure_running", "get_inherited_fds", "connect_to_new_process", "set_forkserver_preload"):
        setattr(multiprocessing.forkserver, name, getattr(fresh, name))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_the_fork_server)


class _Reader:
    """A reader process (`_serve`) and the parent's end of its pipe."""

    def __init__(self, context: multiprocessing.context.BaseContext, label: str) -> None:
        self.conn, child_end = context.Pipe(duplex=True)
        self.process = context.Process(target=_serve, args=(child_end,), daemon=True,
                                       name=f"energystat-reader {label}"[:60])
        _start(self.process)
        child_end.close()
        self.calls = 0

    def retire(self) -> None:
        """Close the pipe (the reader then ends by itself) and reap it."""
        self.conn.close()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


_idle: list[_Reader] = []  # guarded by `_starting`


def _take_reader(context: multiprocessing.context.BaseContext, label: str) -> _Reader:
    with _starting:
        while _idle:
            reader = _idle.pop()
            if reader.process.is_alive():
                return reader
            reader.retire()
    return _Reader(context, label)


def _give_back(reader: _Reader) -> None:
    with _starting:
        if reader.calls < READER_CALLS and len(_idle) < IDLE_READERS:
            _idle.append(reader)
            return
    reader.retire()


@dataclass
class BoundedCall(Generic[T]):
    """A bounded call running in a reader process; `result()` waits for it (several can run side by side)."""

    reader: _Reader | None
    limits: ReaderLimits
    label: str
    started: float
    value: Any = None  # the result where no child runs (no fork on this platform)

    @property
    def child(self) -> multiprocessing.process.BaseProcess | None:
        """The reader process running the call."""
        return self.reader.process if self.reader is not None else None

    def kill(self) -> None:
        """Stop the reader; a `result()` waiting for it (in another thread) raises `ReaderFailed` at once."""
        if self.reader is not None:
            self.reader.process.kill()

    def result(self) -> T:
        """The function's result, or `ReaderFailed` with the reason (the time limit counts from the start)."""
        global last_usage
        if self.reader is None:
            return self.value
        reader, limits = self.reader, self.limits
        payload: bytes | None = None
        if reader.conn.poll(max(0.0, self.started + limits.seconds - time.monotonic())):
            try:
                payload = reader.conn.recv_bytes()
            except (EOFError, OSError):  # the reader died before answering
                payload = None
        else:
            reader.process.kill()
            reader.retire()
            raise ReaderFailed(
                f"读取超时：超过 {limits.seconds:g} 秒仍未读完（文件过大或不是普通文件）",
                f"reading timed out after {limits.seconds:g} s (file too large, or not a regular file)")
        elapsed = time.monotonic() - self.started
        if payload is None:
            reader.retire()
            code = reader.process.exitcode
            log.warning("reader of %s died (exit code %s) after %.1f s", self.label, code, elapsed)
            if code in (-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGKILL, 134):
                raise ReaderFailed(
                    f"文件过大或结构异常，读取时超出内存限制（{_megabytes(limits.memory_bytes)}）被中止",
                    f"the reader was stopped: file too large or malformed, over the memory limit "
                    f"({_megabytes(limits.memory_bytes)}), exit code {code}")
            raise ReaderFailed(f"读取文件时读取程序意外退出（退出码 {code}）",
                               f"the reader exited unexpectedly (exit code {code})", unexpected=True)
        state, value, peak = pickle.loads(payload)
        last_usage = ReaderUsage(elapsed, peak)
        if state == "ok":
            _give_back(reader)
            return value
        reader.retire()  # it ends after a failed call (`_serve`)
        if state == "memory":
            raise ReaderFailed(f"文件过大，读取时超出内存限制（{_megabytes(limits.memory_bytes)}）",
                               f"file too large: over the reader's memory limit ({_megabytes(limits.memory_bytes)})")
        name, message, zh, en = value
        if zh and en:
            raise ReaderFailed(zh, en)
        raise ReaderFailed(f"读取文件时出错：{name}: {message}", f"reader error: {name}: {message}", unexpected=True)


def start_bounded(func: Callable[..., T], *args: Any, limits: ReaderLimits, label: str = "",
                  **kwargs: Any) -> BoundedCall[T]:
    """Start `func(*args, **kwargs)` in a reader process under `limits` (`func` and the arguments must pickle);
    `.result()` gives its result or `ReaderFailed`. Platforms without `fork` (Windows) run the function now,
    in-process, unbounded."""
    if not hasattr(os, "fork"):
        return BoundedCall(None, limits, label, time.monotonic(), func(*args, **kwargs))
    request = pickle.dumps((func, args, kwargs, limits.memory_bytes), protocol=pickle.HIGHEST_PROTOCOL)
    reader = _take_reader(_reader_context(), label)
    started = time.monotonic()
    try:
        reader.conn.send_bytes(request)
    except OSError:  # an idle reader that died meanwhile: a fresh one
        reader.retire()
        reader = _Reader(_reader_context(), label)
        reader.conn.send_bytes(request)
    reader.calls += 1
    return BoundedCall(reader, limits, label, started)


def run_bounded(func: Callable[..., T], *args: Any, limits: ReaderLimits, label: str = "", **kwargs: Any) -> T:
    """`func(*args, **kwargs)` in a child under `limits`; its result, or `ReaderFailed` with the reason.

    An exception the function raises with `zh`/`en` attributes (the parser's UnreadableFile) keeps its message;
    any other exception, a native abort, the memory limit and the timeout get their own.
    """
    return start_bounded(func, *args, limits=limits, label=label, **kwargs).result()
