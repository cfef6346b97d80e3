"""Enrichment: the derived columns (`credit_code_valid`, `in_registry`, `…_ratio_vs_last_year`…) the suites'
context rules look at, added to a parsed frame from its `ValidationContext`, so every rule is a plain expectation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from energystat import creditcode, reference
from energystat.contract.forms import CONSUMPTION_COLUMNS, SIZE_COLUMNS
from energystat.contract.uploads import TASK_PROGRESS
from energystat.ingest.parse import ParsedUpload
from energystat.ingest.validate.context import ValidationContext, code_indexed, month_start, valid_period

INTENSITIES = {  # indicator -> (numerator, denominator); numerator "energy" is the standard-coal total
    "energy_per_capita": ("energy", "headcount"),
    "energy_per_m2": ("energy", "floor_area_m2"),
    "water_per_capita": ("water_t", "headcount"),
}


def _quarter_of(period: str | None) -> str | None:
    if not valid_period(period):
        return None
    month = month_start(period or "")
    return f"{month.year}-Q{(month.month - 1) // 3 + 1}"


#: The same institutions report every month: remember each code's check (a pure function of the code).
_code_is_valid = lru_cache(maxsize=1 << 18)(creditcode.is_valid)


def _valid_codes(codes: pd.Series, missing_is_valid: bool) -> pd.Series:
    """True/False per credit code; a missing code is False, or None (not checked) when codes are optional."""
    missing = None if missing_is_valid else False
    position, distinct = pd.factorize(codes)  # -1: missing; each distinct code checked once
    valid = np.array([_code_is_valid(c) if isinstance(c, str) else missing for c in distinct] + [missing],
                     dtype=object)
    return pd.Series(valid[position], index=codes.index, dtype="object")  # position -1: the appended `missing`


def _at(column: pd.Series, entry: np.ndarray, index: pd.Index) -> pd.Series:
    """`column`'s values at positions `entry` (-1: missing), on `index`: what `codes.map(column)` gives for a column
    indexed by unique codes, with the codes hashed once (`get_indexer`) for all the columns looked up."""
    return pd.Series(pd.api.extensions.take(column.array, entry, allow_fill=True), index=index)


def enrich_many(items: Sequence[tuple[ParsedUpload, ValidationContext]]) -> pd.DataFrame:
    """The parsed frames of files of one kind, each with the derived columns its suite's context rules look at
    (null = not applicable), concatenated in order, with `file_key` (the file's position in `items`) first.

    What a file's context decides (its folder, its registry entries, last year's rows) is looked up file by file;
    the arithmetic over the columns (standard coal, intensities and their ranges, the ratios to last year) runs
    once over the whole chunk: at a few dozen rows per file, pandas' cost per operation, not the rows, was the
    time."""
    files = []
    for file_key, (parsed, context) in enumerate(items):
        frame = parsed.frame.copy()
        frame.insert(0, "file_key", file_key)
        files.append(_task_file(frame, context) if parsed.kind == TASK_PROGRESS else _monthly_file(frame, context))
    combined = pd.concat([f.frame for f in files], ignore_index=True) if len(files) > 1 else files[0].frame
    if items and items[0][0].kind == TASK_PROGRESS:
        combined["credit_code_valid"] = _valid_codes(combined["credit_code"], missing_is_valid=True)
        return combined
    combined["credit_code_valid"] = _valid_codes(combined["credit_code"], missing_is_valid=False)
    return _monthly_derived(combined, files)


@dataclass
class _File:
    """A file's frame with its own columns, and what the chunk's arithmetic needs from its context."""

    frame: pd.DataFrame
    active: np.ndarray | None = None  # per row: registered and active in the month
    previous: pd.DataFrame | None = None  # last year's rows by credit code
    previous_entry: np.ndarray | None = None  # per row: its position in `previous`, -1 none


def _task_file(frame: pd.DataFrame, context: ValidationContext) -> _File:
    kinds = {k.category_zh: k for k in reference.task_kinds().values()}
    frame["folder_quarter"] = _quarter_of(context.period)
    frame["expected_unit"] = frame["task_category"].map(lambda c: kinds[c].unit_zh if c in kinds else None)
    return _File(frame)


def _monthly_file(frame: pd.DataFrame, context: ValidationContext) -> _File:
    available = context.available
    frame["folder_period"] = context.period if "folder_period" in available else None
    frame["folder_reporter"] = context.reporter_code

    # Registry: known institution, its reporter, kind and whether it is active this month.
    registry = context.registry if "registry" in available else None
    kind_for_range = frame["institution_kind"].copy()
    active = None
    frame["in_registry"] = None
    frame["registry_reporter_code"] = None
    for name in ("registered_active", "registered_present", "registered_missing", "reporter_completeness"):
        frame[name] = None
    if registry is not None:
        lookup = context.registry_lookup()
        by_code = lookup.by_code
        entry = by_code.index.get_indexer(frame["credit_code"])  # each row's registry entry, -1: none
        frame["in_registry"] = pd.Series(entry >= 0, index=frame.index).astype(object)
        frame["registry_reporter_code"] = _at(by_code["reporter_code"], entry, frame.index)
        kind_for_range = _at(by_code["institution_subkind"], entry, frame.index).fillna(kind_for_range)
        if valid_period(context.period):
            period = context.period or ""
            active = lookup.active_at(period, entry)
            mine = lookup.active_of_reporter(period, context.reporter_code)
            present = set(frame["credit_code"].dropna())
            missing = sorted(set(mine) - present)
            if len(mine):
                frame["registered_active"] = len(mine)
                frame["registered_present"] = len(mine) - len(missing)
                frame["registered_missing"] = "、".join(missing[:20]) + (" …" if len(missing) > 20 else "")
                frame["reporter_completeness"] = round((len(mine) - len(missing)) / len(mine), 6)
    frame["kind_for_range"] = kind_for_range

    # History (M011, M012): the same month last year, per institution.
    last = context.last_year if "history" in available else None
    if last is None or not len(last):
        return _File(frame, active)
    previous = code_indexed(last)
    return _File(frame, active, previous, previous.index.get_indexer(frame["credit_code"]))


def _monthly_derived(frame: pd.DataFrame, files: list[_File]) -> pd.DataFrame:
    """The chunk's arithmetic: standard coal, intensities and their ranges by kind, last year's values and the
    changes and ratios to them."""
    # Intensities by kind (M010): standard coal from the reference coefficients.
    kgce = reference.kgce_per_raw_unit()
    energy = sum(frame[c].fillna(0.0) * k for c, k in kgce.items() if c in frame)
    frame["energy_kgce"] = energy
    # Each row's kind as a position into the chunk's few kinds (-1: none): a bound is then looked up per kind,
    # not per row (`Series.map` of a dict walks a text column in Python, six times over).
    kind_position, kinds = pd.factorize(frame["kind_for_range"])
    ranges = reference.intensity_ranges()
    for indicator, (numerator, denominator) in INTENSITIES.items():
        # Zero energy is M013's finding and a negative value M006's, not an implausible intensity.
        top = energy if numerator == "energy" else frame[numerator]
        top = top.where(top > 0)
        bottom = frame[denominator].where(frame[denominator] > 0)
        frame[indicator] = (top / bottom).astype("float64")
        for side, bound in (("_low", 0), ("_high", 1)):
            by_kind = {k: limits[bound] for (k, ind), limits in ranges.items() if ind == indicator}
            bounds = np.array([by_kind.get(k, np.nan) for k in kinds] + [np.nan], dtype="float64")
            frame[indicator + side] = bounds[kind_position]  # position -1: the appended NaN

    # Zero energy for an active institution (M013): energy total of active registered rows, null otherwise.
    active = np.concatenate([f.active if f.active is not None else np.zeros(len(f.frame), bool) for f in files])
    frame["energy_use_of_active_institution"] = energy.where(active).astype("float64")

    # History (M011, M012): each file's rows looked up in its own last year, as positions into all of them.
    previous, entries, offset = [], [], 0
    for f in files:
        if f.previous is None:
            entries.append(np.full(len(f.frame), -1))
            continue
        entries.append(np.where(f.previous_entry >= 0, f.previous_entry + offset, -1))
        previous.append(f.previous)
        offset += len(f.previous)
    entry = np.concatenate(entries)
    last_year = pd.concat(previous) if len(previous) > 1 else (previous[0] if previous else None)
    for column in (*SIZE_COLUMNS, *CONSUMPTION_COLUMNS):
        before = (_at(last_year[column], entry, frame.index).astype("float64") if last_year is not None
                  else pd.Series(np.nan, index=frame.index))
        frame[column + "_last_year"] = before
        now = frame[column]
        if column in SIZE_COLUMNS:
            change = (now / before.where(before > 0) - 1).abs()
            frame[column + "_change_vs_last_year"] = change.round(6)
        else:
            ratio = now.where(now > 0) / before.where(before > 0)
            frame[column + "_ratio_vs_last_year"] = ratio.round(6)
    return frame
