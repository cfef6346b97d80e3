"""The text `COPY … (format csv, null '')` reads into a raw table: a reader process formats an upload's rows
(`rows_csv`) while the run loads earlier files; the load puts in what the landing path and the upload log give
(`with_constants`).

The text is what `DataFrame.to_csv(header=False, index=False, na_rep="")` would write (encoded as UTF-8): numbers
as to_csv writes them (the raw columns are `numeric`, which keeps the text's scale: 15000.0 stays 15000.0), text
quoted, missing values empty (= NULL). It is built as a byte matrix, a row per row of the upload, each field in
fixed-width cells padded with NUL bytes, then read without the NULs: a number's digits come from array arithmetic,
not from a `repr` per value, and the rows are not joined one by one (the two cost as much as the server's COPY).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd

from energystat.contract.uploads import MONTHLY, RAW_COLUMNS, TASK_PROGRESS

#: Columns the load gives every row of an upload (not the file).
_CONSTANT_COLUMNS = ("upload_id", "reporter_code", "period_month")

#: Stands for the constants' fields at the start of each row until the load knows them (one `bytes.replace` then,
#: not a string per row). No field holds it: the byte 0xFF never occurs in UTF-8.
_MARK = b"\xff"

#: Pads a field's cell in the byte matrix; dropped when the text is read out of it. No field holds it:
#: PostgreSQL text cannot hold NUL, and `rows_csv` refuses a text with one as COPY would.
_PAD = "\x00"

#: Numbers at least this small (but not zero) or this large are written by `repr` (Python writes 1e-05 and
#: 1e+16 with an exponent); between them, with at most six decimals, by table lookups.
_SMALLEST, _LARGEST, _DECIMALS = 1e-4, 1e9, 6


def _digit_groups() -> tuple[np.ndarray, dict[str, int]]:
    """The cells of three digits a number is written with, as 4-byte words (a lead byte, three digits; NUL pads),
    in tables of 1,000 (one per way a group is written), after one empty cell: {table: offset}."""
    def table(lead: str, digits: Callable[[int], str]) -> list[bytes]:
        return [(lead + digits(n)).encode() for n in range(1000)]

    def leading(n: int, zero: str = "") -> str:  # leading zeros padded; the group of a number below 1,000
        return f"{n:3d}".replace(" ", _PAD) if n else _PAD * 2 + zero.rjust(1, _PAD)

    def trailing(n: int, zero: str = "") -> str:  # trailing zeros padded; the last group of decimals
        return f"{n:03d}".rstrip("0").ljust(3, _PAD) if n else zero.ljust(3, _PAD)

    tables = {
        "top": table(_PAD, leading), "top_negative": table("-", leading),  # millions (the sign leads)
        "thousands": table(_PAD, "{:03d}".format), "thousands_leading": table(_PAD, leading),
        "units": table(_PAD, "{:03d}".format), "units_leading": table(_PAD, lambda n: leading(n, "0")),
        "decimals": table(".", "{:03d}".format), "decimals_last": table(".", lambda n: trailing(n, "0")),
        "millionths": table(_PAD, trailing),
    }
    words, offsets = [b"\x00" * 4], {}
    for name, cells in tables.items():
        offsets[name] = len(words)
        words += cells
    return np.frombuffer(b"".join(words), dtype=np.uint32), offsets


_GROUPS, _GROUP_TABLES = _digit_groups()


def load_constants(kind: str, upload_id: int, reporter_code: str | None, period: str | None) -> dict[str, object]:
    """The values every row of the upload gets at load: its upload id, the folder's reporter and (monthly) month."""
    values: dict[str, object] = {"upload_id": upload_id, "reporter_code": reporter_code}
    if kind == MONTHLY:
        values["period_month"] = date.fromisoformat(f"{period}-01")
    return values


def row_columns(kind: str) -> list[str]:
    """The raw table's columns the rows themselves give, in table order."""
    return [c for c in RAW_COLUMNS[kind] if c not in _CONSTANT_COLUMNS]


def rows_csv(kind: str, frame: pd.DataFrame) -> bytes:
    """The rows as COPY text (UTF-8) of `row_columns(kind)`, each row led by a mark `with_constants` replaces.
    Raises ValueError for a text holding NUL (COPY would refuse it too)."""
    data = frame.reindex(columns=row_columns(kind))  # the raw columns only, the upload's own ones filled
    if kind == TASK_PROGRESS and "year" not in frame.columns:
        data["year"] = frame["period_quarter"].str[:4].astype(int)
        data["quarter"] = frame["period_quarter"].str[-1].astype(int)
    rows = len(data)
    if not rows:
        return b""
    numbers = [c for c in data.columns if data[c].dtype.kind == "f"]
    number_cells = dict(zip(numbers, _number_cells(data[numbers].to_numpy(dtype="float64")), strict=True))
    comma, newline = (np.full((rows, 1), ord(c), dtype=np.uint8) for c in ",\n")
    cells = [np.full((rows, 1), _MARK[0], dtype=np.uint8)]
    for column in data.columns:
        cells += [comma, number_cells[column] if column in number_cells else _field_cells(data[column])]
    matrix = np.hstack([*cells, newline])
    return matrix[matrix != 0].tobytes()


def with_constants(rows: bytes, constants: dict[str, object]) -> bytes:
    """The COPY text: each row of `rows_csv` after the constants' fields."""
    return rows.replace(_MARK, ",".join(_csv_field(v) for v in constants.values()).encode())


def _text_cells(fields: list[str]) -> np.ndarray:
    """Fields as a byte matrix, a row per field, padded with NUL."""
    joined = _PAD.join(fields)
    if joined.count(_PAD) != len(fields) - 1:
        raise _nul_in_text()
    encoded = np.array(joined.encode().split(_PAD.encode()), dtype="S")
    return encoded.view(np.uint8).reshape(len(fields), encoded.itemsize)


def _number_cells(values: np.ndarray) -> list[np.ndarray]:
    """Each column of `values` (rows × columns, NaN = missing) as the byte matrix of the text to_csv writes
    (Python's repr: 15000.0, 0.25, -0.0, 1e-05), empty where missing.

    A number is written from its millionths when they give it back exactly: the shortest decimal text that reads
    as the number (repr's) then has at most six decimals, and below 1e9 no other text of six decimals reads as
    the same number (neighbouring floats are closer than a millionth), so the digits are repr's; each group of
    three digits is looked up (`_GROUPS`). The rest (more decimals, an exponent) is written by repr."""
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and inf: left empty, or written by repr
        millionths = np.rint(magnitude * 10.0**_DECIMALS)
        exact = ((magnitude < _LARGEST) & ((magnitude >= _SMALLEST) | (magnitude == 0))
                 & (millionths / 10.0**_DECIMALS == magnitude))
    whole, fraction = np.divmod(np.where(exact, millionths, 0).astype(np.int64), 10**_DECIMALS)
    thousandths, millionths_digits = np.divmod(fraction, 1000)
    at = _GROUP_TABLES
    groups = np.stack([
        *_whole_groups(whole, np.signbit(values)),
        np.where(millionths_digits > 0, at["decimals"], at["decimals_last"]) + thousandths,
        at["millionths"] + millionths_digits,
    ], axis=-1)
    groups[~exact] = 0  # the empty cell
    cells = _cells_of_groups(groups)
    others = ~exact & ~np.isnan(values)
    columns = []
    for column in range(values.shape[1]):
        texts = cells[:, column]
        written = np.flatnonzero(others[:, column])
        if len(written):  # repr's own text, in cells of its own after the lookups' (empty on those rows)
            fields = [""] * len(values)
            for row, text in zip(written, map(repr, values[written, column].tolist()), strict=True):
                fields[row] = text
            texts = np.hstack([texts, _text_cells(fields)])
        columns.append(texts)
    return columns


def _whole_groups(whole: np.ndarray, negative: np.ndarray | bool) -> list[np.ndarray]:
    """The `_GROUPS` cells of whole numbers below 1e9: millions (after the sign), thousands, units."""
    at = _GROUP_TABLES
    return [np.where(negative, at["top_negative"], at["top"]) + whole // 10**6,
            np.where(whole >= 10**6, at["thousands"], at["thousands_leading"]) + whole // 1000 % 1000,
            np.where(whole >= 1000, at["units"], at["units_leading"]) + whole % 1000]


def _cells_of_groups(groups: np.ndarray) -> np.ndarray:
    """Cell positions (…, groups) as their bytes (…, 4 × groups)."""
    return _GROUPS[groups].view(np.uint8).reshape(*groups.shape[:-1], 4 * groups.shape[-1])


def _field_cells(column: pd.Series) -> np.ndarray:
    """A column that is not float as the byte matrix of its fields: whole numbers, text quoted, the rest as str."""
    missing = column.isna().to_numpy()
    if column.dtype.kind in "iu" and not missing.any():
        values = column.to_numpy(dtype=np.int64)
        if values.min() >= 0 and values.max() < _LARGEST:  # row numbers, years
            return _cells_of_groups(np.stack(_whole_groups(values, False), axis=-1))
        return _text_cells(list(map(str, values.tolist())))
    values = column.to_numpy(dtype=object)
    present = values.tolist() if not missing.any() else values[~missing].tolist()
    if set(map(type, present)) <= {str}:  # a text column (codes, names)
        if missing.any():
            values = values.copy()
            values[missing] = ""
        return _quoted_cells(values.tolist())
    return _text_cells([_csv_field(v) if not m else "" for v, m in zip(values, missing, strict=True)])


def _quoted_cells(texts: list[str]) -> np.ndarray:
    """Each text as a CSV field, quoted, its quotes doubled; "" stays empty (NULL, as in to_csv). One pass over
    the column's texts joined by the pad (no text holds it)."""
    joined = _PAD.join(texts)
    if joined.count(_PAD) != len(texts) - 1:
        raise _nul_in_text()
    quoted = np.array(('"' + joined.replace('"', '""').replace(_PAD, f'"{_PAD}"') + '"').encode().split(b"\x00"),
                      dtype="S")
    quoted[quoted == b'""'] = b""
    return quoted.view(np.uint8).reshape(len(texts), quoted.itemsize)


def _nul_in_text() -> ValueError:
    return ValueError("a text holds a NUL character, which PostgreSQL cannot store")


def _csv_field(value: object) -> str:
    if isinstance(value, str):  # quoted: commas, quotes and line breaks in names stay text ("" stays NULL, as in to_csv)
        return '"' + value.replace('"', '""') + '"' if value else ""
    return str(value)
