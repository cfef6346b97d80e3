"""synth.xlsx writes the same workbook xlsxwriter wrote for the synthetic forms (same XML, same cells for every
reader), so the fast writer changes nothing a parser or a clerk opening the file sees."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from energystat.contract import forms
from energystat.ingest.parse import parse_upload
from energystat.synth import xlsx

CREATED = dt.datetime(2023, 5, 1)


def _monthly_frame(rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    data: dict[str, object] = {
        "统一社会信用代码": [f"12450000MB{i:07d}X" for i in range(rows)],
        "单位名称": [f"南宁市第{i}中学 <分校> & 附属" if i % 7 else f" 前后有空格的名称{i} " for i in range(rows)],
        "单位类型": ["中小学校"] * rows,
        "统计期": ["2023-05"] * rows,
        "用能人数(人)": rng.integers(1, 3000, rows),
    }
    for j, header in enumerate(forms.MONTHLY_HEADERS[5:]):
        data[header] = np.round(rng.random(rows) * 10 ** (j % 7), 1 if j == 0 else 2)
    frame = pd.DataFrame(data)
    frame.iloc[3, 6] = 0.0
    frame.iloc[4, 7] = 99999999.99  # needs all 16 significant digits
    return frame


def _with_defects(frame: pd.DataFrame) -> pd.DataFrame:
    """What the defects catalogue writes: text in a number column, full-width digits, blanks, a totals row."""
    df = frame.copy()
    df["电力(千瓦时)"] = df["电力(千瓦时)"].astype(object)
    df.iat[1, 6] = "约1200"
    df.iat[2, 6] = "１２３.４５"
    df.iat[5, 6] = "1,234.50"
    totals = {c: (round(float(pd.to_numeric(df[c], errors="coerce").sum()), 2) if j >= 4 else "")
              for j, c in enumerate(df.columns)}
    totals["统一社会信用代码"] = "合计"
    return pd.concat([df, pd.DataFrame([totals])], ignore_index=True)


@pytest.mark.parametrize("defects", [False, True], ids=["clean", "defects"])
def test_same_bytes_as_xlsxwriter(tmp_path: Path, defects: bool) -> None:
    frame = _with_defects(_monthly_frame()) if defects else _monthly_frame()
    old, new, fast = tmp_path / "old.xlsx", tmp_path / "new.xlsx", tmp_path / "fast.xlsx"
    xlsx.write_xlsx_reference(old, list(frame.columns), [frame[c].to_numpy() for c in frame.columns],
                              forms.MONTHLY_SHEET, CREATED)
    columns = [frame[c].to_numpy() for c in frame.columns]
    xlsx.write_xlsx(new, list(frame.columns), columns, forms.MONTHLY_SHEET, CREATED, compresslevel=6)
    assert new.read_bytes() == old.read_bytes()  # at xlsxwriter's zlib level, byte for byte the same file
    xlsx.write_xlsx(fast, list(frame.columns), columns, forms.MONTHLY_SHEET, CREATED)
    with zipfile.ZipFile(old) as a, zipfile.ZipFile(fast) as b:  # the default (faster) level: same parts
        assert a.namelist() == b.namelist()
        assert all(a.read(name) == b.read(name) for name in a.namelist())
    assert pd.read_excel(fast, engine="calamine").equals(pd.read_excel(old, engine="calamine"))


def test_header_is_bold_and_columns_keep_their_widths(tmp_path: Path) -> None:
    frame = _monthly_frame(5)
    path = xlsx.write_xlsx(tmp_path / "m.xlsx", list(frame.columns), [frame[c].to_numpy() for c in frame.columns],
                           forms.MONTHLY_SHEET, CREATED)
    sheet = openpyxl.load_workbook(path)[forms.MONTHLY_SHEET]
    assert [c.value for c in sheet[1]] == forms.MONTHLY_HEADERS
    assert all(c.font.b for c in sheet[1]) and not sheet["A2"].font.b
    assert (sheet.column_dimensions["A"].width, sheet.column_dimensions["B"].width) == (22.7109375, 30.7109375)
    assert sheet["E2"].value == frame.iat[0, 4] and sheet["B2"].value == frame.iat[0, 1]


def test_parser_reads_the_same_rows(tmp_path: Path) -> None:
    frame = _monthly_frame()
    old, new = tmp_path / "450100_2023-05_能源资源消费月报.xlsx", tmp_path / "new" / "450100_2023-05_能源资源消费月报.xlsx"
    new.parent.mkdir()
    xlsx.write_xlsx_reference(old, list(frame.columns), [frame[c].to_numpy() for c in frame.columns],
                              forms.MONTHLY_SHEET, CREATED)
    xlsx.write_xlsx(new, list(frame.columns), [frame[c].to_numpy() for c in frame.columns], forms.MONTHLY_SHEET,
                    CREATED)
    a, b = parse_upload(old), parse_upload(new)
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    assert len(b.frame) == len(frame) and [f.rule_id for f in a.findings] == [f.rule_id for f in b.findings]


def test_nan_is_refused_like_xlsxwriter(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NaN"):
        xlsx.write_xlsx(tmp_path / "x.xlsx", ["a"], [np.array([1.0, np.nan])], "s", CREATED)


def test_worker_processes_write_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    import energystat.synth as synth

    def hashes(root: Path) -> dict[str, str]:
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*.xlsx"))}

    synth.generate(tmp_path / "serial", institutions=40, years=[2022, 2023], seed=3, defects=True)
    monkeypatch.setattr(synth, "PARALLEL_MIN_ROWS", 0)  # this small province through the worker pool
    synth.generate(tmp_path / "parallel", institutions=40, years=[2022, 2023], seed=3, defects=True)
    serial, parallel = hashes(tmp_path / "serial"), hashes(tmp_path / "parallel")
    assert len(serial) > 400 and serial == parallel
    assert (tmp_path / "serial" / "defects.json").read_bytes() == (tmp_path / "parallel" / "defects.json").read_bytes()
