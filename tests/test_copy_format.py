"""The COPY text of an upload's rows (formatted by the reader process, completed at load) is what pandas' own CSV
writer gives for the raw table's columns: numbers with their scale, text quoted, missing values empty (NULL)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from energystat.contract.uploads import MONTHLY, RAW_COLUMNS, TASK_PROGRESS
from energystat.ingest import copy_format


def _fields(text: str | bytes) -> list[list[str]]:
    """The fields COPY reads (it quotes no empty field: empty is NULL in both texts)."""
    return list(csv.reader(io.StringIO(text.decode() if isinstance(text, bytes) else text)))


def _expected(frame: pd.DataFrame, constants: dict[str, object], columns: list[str]) -> str:
    table = frame.reindex(columns=columns)
    for name, value in constants.items():
        table[name] = value
    return table.to_csv(header=False, index=False, na_rep="", lineterminator="\n")


def test_monthly_rows_with_constants_are_what_to_csv_writes() -> None:
    frame = pd.DataFrame({
        "source_row": pd.array([2, 3, 4], dtype="Int64"),
        "credit_code": ["11450100MB0000001X", None, "A,B"],
        "institution_name": ['某"局"', "第一行\n第二行", ""],
        "institution_kind": ["机关", "学校", "医院"],
        "headcount": [84.0, np.nan, 3.0],
        "floor_area_m2": [15000.0, 1e-05, 123456789.125],
        "electricity_kwh": [0.1, 2.5e20, np.nan],
        "water_t": [np.nan, np.nan, np.nan],
    })
    constants = copy_format.load_constants(MONTHLY, 17, "450100", "2023-07")
    text = copy_format.with_constants(copy_format.rows_csv(MONTHLY, frame), constants)
    expected = _expected(frame, constants, [*constants, *copy_format.row_columns(MONTHLY)])
    assert _fields(text) == _fields(expected) and len(_fields(text)) == 3
    assert ',"A,B",,"医院",'.encode() in text  # an empty name is an unquoted empty field: NULL, as before
    assert sorted([*constants, *copy_format.row_columns(MONTHLY)]) == sorted(RAW_COLUMNS[MONTHLY])


def test_task_rows_take_year_and_quarter_from_their_period() -> None:
    frame = pd.DataFrame({"source_row": [2], "period_quarter": ["2023-Q3"], "task_code": ["pv"], "quantity": [1.5],
                          "note": [None]})
    constants = copy_format.load_constants(TASK_PROGRESS, 5, "450000", "2023-Q3")
    text = copy_format.with_constants(copy_format.rows_csv(TASK_PROGRESS, frame), constants)
    by_column = dict(zip([*constants, *copy_format.row_columns(TASK_PROGRESS)], _fields(text)[0], strict=True))
    assert (by_column["year"], by_column["quarter"], by_column["quantity"], by_column["note"]) == ("2023", "3", "1.5", "")
    assert text.startswith(b"5,\"450000\",2,")
    assert copy_format.rows_csv(TASK_PROGRESS, frame.iloc[:0]) == b""


def test_repeated_values_and_long_columns_are_written_as_to_csv_writes_them() -> None:
    rows = 60  # long enough that repeated numbers are formatted once per distinct value
    frame = pd.DataFrame({
        "source_row": pd.array(range(2, rows + 2), dtype="Int64"),
        "credit_code": [f"11450100MB{i:07d}X" for i in range(rows)],
        "institution_name": [["某\"局\"", "甲,乙", None, "第一行\n第二行", "普通单位"][i % 5] for i in range(rows)],
        "institution_kind": ["机关"] * rows,
        "headcount": [[0.0, np.nan, 12.0, 1e-05][i % 4] for i in range(rows)],
        "electricity_kwh": [i * 1.1 for i in range(rows)],
        "water_t": [0.0] * rows,
    })
    constants = copy_format.load_constants(MONTHLY, 3, "450200", "2023-02")
    text = copy_format.with_constants(copy_format.rows_csv(MONTHLY, frame), constants)
    expected = _expected(frame, constants, [*constants, *copy_format.row_columns(MONTHLY)])
    assert _fields(text) == _fields(expected) and len(_fields(text)) == rows
    assert text.decode().count('"第一行\n第二行"') == rows // 5  # a line break inside a name stays inside its quotes


def test_a_text_holding_nul_is_refused_not_spliced_into_the_constants() -> None:
    frame = pd.DataFrame({"source_row": [2, 3], "credit_code": ["A\x00B", "C"], "headcount": [1.0, 2.0]})
    with pytest.raises(ValueError, match="NUL"):
        copy_format.rows_csv(MONTHLY, frame)
    mixed = pd.DataFrame({"source_row": [2, 3], "credit_code": ["A\x00B", 7], "headcount": [1.0, 2.0]})
    with pytest.raises(ValueError, match="NUL"):  # the value-by-value path too
        copy_format.rows_csv(MONTHLY, mixed)


def test_every_kind_of_float_is_written_as_repr_writes_it() -> None:
    """Numbers written by table lookups (up to six decimals below 1e9) and by repr (the rest) give to_csv's text:
    random magnitudes and decimals, random bit patterns, and the edges (-0.0, 1e-4, 1e9, inf, the smallest)."""
    rng = np.random.default_rng(18)
    rounded = [np.round(rng.uniform(-1e9, 1e9, 500) / 10.0 ** rng.integers(0, 9, 500), decimals)
               for decimals in range(9)]
    bit_patterns = rng.integers(0, 2**63, 1000, dtype=np.uint64).view(np.float64)
    edges = np.array([0.0, -0.0, 1e-4, -1e-4, 9.9999e-5, 1e9, -1e9, 999999999.999999, 999999999.9999999, 1e-05,
                      1e16, 123456789.125, 0.1, 0.3, 1 / 3, 1000.0, 1e6, 999.5, -1000000.000001, 2.5e20, np.inf,
                      -np.inf, np.nan, 5e-324, 0.0001234567])
    values = np.concatenate([*rounded, rng.uniform(0, 1, 500), bit_patterns, edges])
    numbers = ["headcount", "floor_area_m2", "electricity_kwh"]
    frame = pd.DataFrame({column: rng.permutation(values) for column in numbers})
    frame["source_row"] = pd.array(range(2, len(values) + 2), dtype="Int64")
    constants = copy_format.load_constants(MONTHLY, 9, "450300", "2023-05")
    text = copy_format.with_constants(copy_format.rows_csv(MONTHLY, frame), constants)
    expected = _expected(frame, constants, [*constants, *copy_format.row_columns(MONTHLY)])
    assert _fields(text) == _fields(expected) and len(_fields(text)) == len(values)
    assert b",-0.0," in text and b",1e-05," in text and b",999999999.999999," in text
