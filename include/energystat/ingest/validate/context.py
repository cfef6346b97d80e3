"""What the context rules compare an upload with: the institution registry and last year's live rows, from the
warehouse (or nothing, with the rules that need them reported as skipped)."""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg

from energystat import roles, warehouse
from energystat.contract.forms import CONSUMPTION_COLUMNS, SIZE_COLUMNS
from energystat.contract.uploads import LIVE_STATUSES, MONTHLY, TASK_PROGRESS
from energystat.ingest.guard import BatchSummary, summarize

log = logging.getLogger(__name__)

#: (reporter_code, period) of an upload: the key of its context.
ContextKey = tuple[str | None, str | None]


def code_indexed(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` indexed by credit code (the first row of each), the index of Python strings: the parsed frames'
    codes are Python objects, and pandas looks those up in an index of its `str` dtype by rebuilding the index's
    hash table on every call (15 ms per file against an 80,000-code registry instead of 2)."""
    indexed = rows.drop_duplicates("credit_code").set_index("credit_code")
    indexed.index = indexed.index.astype(object)
    return indexed


class RegistryLookup:
    """The registry indexed by credit code, and its active institutions per month and reporter.

    Building these costs a pass over the whole registry; a night's files share one registry, so the contexts of
    one `load_contexts` call share one lookup instead of each file paying for it. Per month and per reporter the
    answers are arrays over registry positions, computed once (a file's rows are then looked up by code once).
    """

    def __init__(self, registry: pd.DataFrame) -> None:
        self.registry = registry
        self.by_code = code_indexed(registry)
        self._codes = registry["credit_code"].to_numpy(dtype=object)
        self._rows_of_reporter = registry.groupby("reporter_code", sort=False).indices
        self._active: dict[str, np.ndarray] = {}
        self._active_by_code: dict[str, np.ndarray] = {}
        self._mine: dict[tuple[str, str | None], np.ndarray] = {}

    def is_active(self, period: str) -> np.ndarray:
        """Per registry row: active at some time in the month."""
        if period not in self._active:
            start = month_start(period)
            end = (pd.Timestamp(start) + pd.offsets.MonthEnd(0)).date()
            registry = self.registry
            self._active[period] = ((registry["active_from"] <= end) & (registry["active_to"].isna()
                                                                        | (registry["active_to"] >= start))).to_numpy()
        return self._active[period]

    def active_at(self, period: str, entry: np.ndarray) -> np.ndarray:
        """Per `by_code` entry (-1: not registered): some registry row of that code is active in the month."""
        if period not in self._active_by_code:
            active_codes = pd.Index(pd.unique(self._codes[self.is_active(period)]), dtype=object)
            self._active_by_code[period] = self.by_code.index.isin(active_codes)
        return (entry >= 0) & self._active_by_code[period][entry]

    def active_of_reporter(self, period: str, reporter: str | None) -> np.ndarray:
        """Credit codes of the reporter's institutions active in the month, in registry order."""
        if (period, reporter) not in self._mine:
            rows = self._rows_of_reporter.get(reporter, np.empty(0, dtype=np.intp))
            self._mine[(period, reporter)] = self._codes[rows[self.is_active(period)[rows]]]
        return self._mine[(period, reporter)]


@dataclass
class ValidationContext:
    """What the context rules compare an upload with. `registry` / `last_year` None = not available (skipped)."""

    reporter_code: str | None
    period: str | None  # the folder's period, YYYY-MM
    registry: pd.DataFrame | None = None  # raw.institution_registry rows (all reporters)
    last_year: pd.DataFrame | None = None  # live rows of the same reporter, same month last year
    unavailable_reason: str | None = None  # why registry/history are missing (warehouse unreachable…)
    lookup: RegistryLookup | None = field(default=None, repr=False)  # shared by the contexts of one load
    #: The live batch a new file of each kind would replace (the correction guard compares with it).
    live_batches: dict[str, BatchSummary] = field(default_factory=dict)

    def registry_lookup(self) -> RegistryLookup:
        """Indexes of `registry`, built once and shared by every context `load_contexts` returned together."""
        if self.lookup is None or self.lookup.registry is not self.registry:
            self.lookup = RegistryLookup(self.registry)
        return self.lookup

    @property
    def available(self) -> set[str]:
        out = set()
        if self.period:
            out.add("folder_period")
        if self.registry is not None and len(self.registry):
            out.add("registry")
        if self.last_year is not None:
            out.add("history")
        return out


def month_start(period: str) -> dt.date:
    """The first day of a `YYYY-MM` period."""
    year, month = (int(p) for p in period.split("-")[:2])
    return dt.date(year, month, 1)


def valid_period(period: str | None) -> bool:
    """The period is a `YYYY-MM` month."""
    try:
        month_start(period or "")
    except ValueError:
        return False
    return True


def load_contexts(conn_or_dsn: psycopg.Connection | str,
                  keys: Sequence[ContextKey]) -> dict[ContextKey, ValidationContext]:
    """Contexts for many (reporter_code, period) pairs with one registry read and one history query."""
    if isinstance(conn_or_dsn, str):
        with warehouse.connect(conn_or_dsn, role=roles.LOADER) as conn:  # validation is the loader's job
            return load_contexts(conn, keys)
    conn = conn_or_dsn
    registry = pd.DataFrame(
        conn.execute(
            "select credit_code, institution_name, reporter_code, institution_subkind, active_from, active_to "
            "from raw.institution_registry"
        ).fetchall(),
        columns=["credit_code", "institution_name", "reporter_code", "institution_subkind", "active_from",
                 "active_to"],
    )
    registry["credit_code"] = registry["credit_code"].str.strip()
    wanted = sorted({(r, month_start(p).replace(year=month_start(p).year - 1))
                     for r, p in keys if r and valid_period(p)})
    history = _live_rows(conn, wanted)
    live = _live_batches(conn, keys)
    contexts = {}
    lookup = RegistryLookup(registry)
    # Split once (filtering the whole history per key cost seconds per file at province scale).
    by_key = {key: part for key, part in history.groupby(["reporter_code", "period_month"], sort=False)}
    empty = history.iloc[0:0].copy()  # not a view: it would keep the whole history alive
    for reporter, period in keys:
        last_year = None
        if reporter and valid_period(period):
            month = month_start(period)
            last_year = by_key.get((reporter, month.replace(year=month.year - 1).isoformat()), empty)
        contexts[(reporter, period)] = ValidationContext(reporter, period, registry, last_year, lookup=lookup,
                                                         live_batches=live.get((reporter, period), {}))
    return contexts


_HISTORY_COLUMNS = ["reporter_code", "period_month", "credit_code", *SIZE_COLUMNS, *CONSUMPTION_COLUMNS]


def _live_rows(conn: psycopg.Connection, wanted: list[tuple[str, dt.date]]) -> pd.DataFrame:
    """The live monthly rows of the (reporter, month) pairs: the numbers as float64, the month as `YYYY-MM-DD`.

    Read as CSV through COPY into pandas' C parser: a night's history is a million rows, which as Python tuples
    cost seconds and most of the run's memory. pandas 3 parses each number to exactly the float8
    PostgreSQL sent (its shortest round-trip text)."""
    numbers = _HISTORY_COLUMNS[3:]
    if not wanted:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in numbers else "str") for c in _HISTORY_COLUMNS})
    query = (
        f"copy (select m.reporter_code, m.period_month, m.credit_code, {', '.join(f'm.{c}::float8' for c in numbers)}"
        " from raw.monthly_statistics m join ops.upload_log u on u.upload_id = m.upload_id"
        " where u.status = any(%s) and (m.reporter_code, m.period_month) in"
        " (select * from unnest(%s::text[], %s::date[]))) to stdout with (format csv)")
    text = io.BytesIO()
    with conn.cursor().copy(query, (list(LIVE_STATUSES), [r for r, _ in wanted], [m for _, m in wanted])) as copy:
        for block in copy:
            text.write(block)
    text.seek(0)
    return pd.read_csv(text, names=_HISTORY_COLUMNS, header=None, keep_default_na=False,
                       na_values={c: [""] for c in numbers},
                       dtype={**{c: "str" for c in _HISTORY_COLUMNS[:3]}, **{c: "float64" for c in numbers}})


def _live_batches(conn: psycopg.Connection, keys: Sequence[ContextKey]) -> dict[ContextKey, dict[str, BatchSummary]]:
    """Per (reporter, period) folder, the live batch of each kind: its institutions (monthly), rows and totals."""
    reporters = [r for r, p in keys if r and p]
    periods = [p for r, p in keys if r and p]
    out: dict[ContextKey, dict[str, BatchSummary]] = {}
    if not reporters:
        return out
    sums = ", ".join(f"sum(m.{c})::float8" for c in CONSUMPTION_COLUMNS)
    rows = conn.execute(
        f"select u.reporter_code, u.period, array_agg(m.credit_code), count(*), {sums}"
        " from ops.upload_log u join raw.monthly_statistics m on m.upload_id = u.upload_id"
        " where u.kind = %s and u.status = any(%s) and (u.reporter_code, u.period) in"
        " (select * from unnest(%s::text[], %s::text[])) group by 1, 2",
        (MONTHLY, list(LIVE_STATUSES), reporters, periods)).fetchall()
    for reporter, period, codes, count, *totals in rows:
        out.setdefault((reporter, period), {})[MONTHLY] = summarize(
            codes, count, dict(zip(CONSUMPTION_COLUMNS, totals, strict=True)))
    rows = conn.execute(
        "select u.reporter_code, u.period, count(*), sum(t.quantity)::float8"
        " from ops.upload_log u join raw.task_progress t on t.upload_id = u.upload_id"
        " where u.kind = %s and u.status = any(%s) and (u.reporter_code, u.period) in"
        " (select * from unnest(%s::text[], %s::text[])) group by 1, 2",
        (TASK_PROGRESS, list(LIVE_STATUSES), reporters, periods)).fetchall()
    for reporter, period, count, quantity in rows:
        out.setdefault((reporter, period), {})[TASK_PROGRESS] = summarize((), count, {"quantity": quantity})
    return out


def load_context(conn_or_dsn: psycopg.Connection | str, reporter_code: str | None, period: str | None) -> ValidationContext:
    """The context of one upload from the warehouse: the registry and last year's live rows of the reporter."""
    return load_contexts(conn_or_dsn, [(reporter_code, period)])[(reporter_code, period)]


def context_without_warehouse(reporter_code: str | None, period: str | None, reason: str) -> ValidationContext:
    """A context for when no warehouse is reachable: registry and history rules are reported as skipped."""
    return ValidationContext(reporter_code, period, unavailable_reason=reason)


def context_for_check(reporter_code: str | None, period: str | None) -> ValidationContext:
    """The context of a pre-check: from the warehouse when it is reachable, else with history/registry skipped."""
    try:
        dsn = warehouse.warehouse_dsn(start=False)
        return load_context(dsn, reporter_code, period)
    except Exception as exc:  # any reason the warehouse cannot answer: the check still runs the other rules
        log.info("warehouse not reachable, context rules skipped: %s", exc)
        return context_without_warehouse(reporter_code, period, str(exc).splitlines()[0] if str(exc) else "")
