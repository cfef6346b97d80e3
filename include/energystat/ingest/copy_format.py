"""The text `COPY … (format csv, null '')` reads into a raw table: a reader process formats an upload's rows
(`rows_csv`) while the run loads earlier files; the load adds what the landing path and the upload log give.

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


def load_constants(kind: str, upload_id: int, reporter_code: str | None, period: str | None) -> dict[str, object]:
    """The values every row of the upload gets at load: its upload id, the folder's reporter and (monthly) month."""
    values: dict[str, object] = {"upload_id": upload_id, "reporter_code": reporter_code}
    if kind == MONTHLY:
        values["period_month"] = date.fromisoformat(f"{period}-01")
    return values


def row_columns(kind: str) -> list[str]:
    """The raw table's columns the rows themselves give, in table order."""
    return [c for c in RAW_COLUMNS[kind] if c not in _CONSTANT_COLUMNS]


def rows_csv(kind: str, frame: pd.DataFrame) -> list[str]:
    """Each parsed row as the CSV fields of `row_columns(kind)` (no line end)."""
    data = frame.reindex(columns=row_columns(kind))  # the raw columns only, the upload's own ones filled
    if kind == TASK_PROGRESS and "year" not in frame.columns:
        data["year"] = frame["period_quarter"].str[:4].astype(int)
        data["quarter"] = frame["period_quarter"].str[-1].astype(int)
    if not len(data):
        return []
    return list(map(",".join, zip(*(_csv_fields(data[c]) for c in data.columns), strict=True)))


def with_constants(rows: list[str], constants: dict[str, object]) -> str:
    """The COPY text: each row after the constants' fields."""
    prefix = "".join(_csv_field(v) + "," for v in constants.values())
    return "".join(prefix + row + "\n" for row in rows)


def _csv_fields(column: pd.Series) -> list[str]:
    values = column.to_numpy(dtype=object)
    missing = column.isna().to_numpy()
    if column.dtype.kind == "f":
        texts = list(map(repr, column.tolist()))  # the float text to_csv writes (15000.0, 1e-05): Python's repr
        for position in np.flatnonzero(missing):
            texts[position] = ""
        return texts
    first = values[0]
    if not missing.any() and (values == first).all():  # a constant (upload id, reporter, month): format once
        return [_csv_field(first)] * len(values)
    return [_csv_field(v) if not m else "" for v, m in zip(values, missing, strict=True)]


def _csv_field(value: object) -> str:
    if isinstance(value, str):  # quoted: commas, quotes and line breaks in names stay text ("" stays NULL, as in to_csv)
        return '"' + value.replace('"', '""') + '"' if value else ""
    return str(value)
