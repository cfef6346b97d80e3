"""The text `COPY … (format csv, null '')` reads into a raw table: a reader process formats an upload's rows
(`rows_csv`) while the run loads earlier files; the load puts in what the landing path and the upload log give
(`with_constants`).

The text is what `DataFrame.to_csv(header=False, index=False, na_rep="")` would write, built column by column
(to_csv's row writer cost as much as the COPY itself): numbers as to_csv writes them (the raw columns are
`numeric`, which keeps the text's scale: 15000.0 stays 15000.0), text quoted, missing values empty (= NULL).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from energystat.contract.uploads import MONTHLY, RAW_COLUMNS, TASK_PROGRESS

#: Columns the load gives every row of an upload (not the file).
_CONSTANT_COLUMNS = ("upload_id", "reporter_code", "period_month")

#: Stands for the constants' fields at the start of each row until the load knows them (one `str.replace` then,
#: not a string per row). No field holds it: PostgreSQL text cannot hold NUL, and `rows_csv` refuses a text with
#: one as COPY would. It also joins a text column's values while they are quoted in one pass.
_MARK = "\x00"


def load_constants(kind: str, upload_id: int, reporter_code: str | None, period: str | None) -> dict[str, object]:
    """The values every row of the upload gets at load: its upload id, the folder's reporter and (monthly) month."""
    values: dict[str, object] = {"upload_id": upload_id, "reporter_code": reporter_code}
    if kind == MONTHLY:
        values["period_month"] = date.fromisoformat(f"{period}-01")
    return values


def row_columns(kind: str) -> list[str]:
    """The raw table's columns the rows themselves give, in table order."""
    return [c for c in RAW_COLUMNS[kind] if c not in _CONSTANT_COLUMNS]


def rows_csv(kind: str, frame: pd.DataFrame) -> str:
    """The rows as COPY text of `row_columns(kind)`, each row led by a mark `with_constants` replaces. Raises
    ValueError for a text holding NUL (COPY would refuse it too)."""
    data = frame.reindex(columns=row_columns(kind))  # the raw columns only, the upload's own ones filled
    if kind == TASK_PROGRESS and "year" not in frame.columns:
        data["year"] = frame["period_quarter"].str[:4].astype(int)
        data["quarter"] = frame["period_quarter"].str[-1].astype(int)
    if not len(data):
        return ""
    fields = [_csv_fields(data[c]) for c in data.columns]
    text = "\n".join(map(",".join, zip([_MARK] * len(data), *fields, strict=True))) + "\n"
    if text.count(_MARK) != len(data):
        raise _nul_in_text()
    return text


def with_constants(rows: str, constants: dict[str, object]) -> str:
    """The COPY text: each row of `rows_csv` after the constants' fields."""
    return rows.replace(_MARK, ",".join(_csv_field(v) for v in constants.values()))


def _csv_fields(column: pd.Series) -> list[str]:
    missing = column.isna().to_numpy()
    if column.dtype.kind == "f":
        return _float_fields(column.to_numpy(dtype="float64"), missing)
    if column.dtype.kind in "iu" and not missing.any():
        return list(map(str, column.tolist()))
    values = column.to_numpy(dtype=object)
    present = values.tolist() if not missing.any() else values[~missing].tolist()
    if set(map(type, present)) <= {str}:  # a text column (codes, names): quoted in one pass
        if len(present) == len(values):
            return _quoted(present)
        fields = np.full(len(values), "", dtype=object)
        fields[~missing] = _quoted(present)
        return fields.tolist()
    return [_csv_field(v) if not m else "" for v, m in zip(values, missing, strict=True)]


def _float_fields(values: np.ndarray, missing: np.ndarray) -> list[str]:
    """The float text to_csv writes (15000.0, 1e-05: Python's repr), "" where missing; formatted once per
    distinct value when values repeat (most fuel columns are mostly 0.0)."""
    codes, distinct = pd.factorize(values)  # NaN gets code -1: the "" appended last
    if 2 * len(distinct) > len(values):
        texts = list(map(repr, values.tolist()))
        for position in np.flatnonzero(missing):
            texts[position] = ""
        return texts
    return np.array([*map(repr, distinct.tolist()), ""], dtype=object)[codes].tolist()


def _quoted(texts: list[str]) -> list[str]:
    """Each text as a CSV field: quoted, its quotes doubled; "" stays empty (NULL, as in to_csv). One pass over
    the column's texts joined by the mark."""
    if not texts:
        return []
    joined = _MARK.join(texts)
    if joined.count(_MARK) != len(texts) - 1:
        raise _nul_in_text()
    fields = ('"' + joined.replace('"', '""').replace(_MARK, f'"{_MARK}"') + '"').split(_MARK)
    if "" in texts:
        return [field if field != '""' else "" for field in fields]
    return fields


def _nul_in_text() -> ValueError:
    return ValueError("a text holds a NUL character, which PostgreSQL cannot store")


def _csv_field(value: object) -> str:
    if isinstance(value, str):  # quoted: commas, quotes and line breaks in names stay text ("" stays NULL, as in to_csv)
        return '"' + value.replace('"', '""') + '"' if value else ""
    return str(value)
