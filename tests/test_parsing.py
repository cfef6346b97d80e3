"""Parsing of real upload files: formats, encodings, header aliases, units, 合计 rows, bad input (no GX here)."""

from __future__ import annotations

import math
import zipfile

import pytest
from fixtures_uploads import credit_code, monthly_row, task_row, write_csv, write_task_xlsx, write_xlsx

from energystat import reference
from energystat.contract.forms import MONTHLY_HEADERS
from energystat.contract.uploads import MONTHLY, TASK_PROGRESS
from energystat.ingest.parse import parse_upload


def test_xlsx_template_reads_every_column_in_template_units(tmp_path):
    path = write_xlsx(tmp_path / "450100_2024-03_能源资源消费月报.xlsx", [monthly_row(1), monthly_row(2, **{"电力(千瓦时)": 1234.5})])
    parsed = parse_upload(path, "450100", "2024-03")
    assert parsed.kind == MONTHLY and parsed.findings == []
    frame = parsed.frame
    assert frame["source_row"].tolist() == [2, 3]
    assert frame["credit_code"].tolist() == [credit_code(1), credit_code(2)]
    assert frame["electricity_kwh"].tolist() == [30000.0, 1234.5]
    assert frame["period_month"].tolist() == ["2024-03", "2024-03"]
    assert parsed.units_used["electricity_kwh"] == "千瓦时" and parsed.units_used["heat_gj"] == "百万千焦"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings_are_detected(tmp_path, encoding):
    path = write_csv(tmp_path / "m.csv", [monthly_row(1, 单位名称="南宁市第一中学")], encoding=encoding)
    parsed = parse_upload(path)
    assert parsed.findings == []
    assert parsed.frame["institution_name"].tolist() == ["南宁市第一中学"]
    assert parsed.frame.columns[1] == "credit_code"  # the BOM did not stick to the first header


def test_units_are_converted_and_recorded(tmp_path):
    headers = [h.replace("(千瓦时)", "（万千瓦时）") if h.startswith("电力") else h for h in MONTHLY_HEADERS]
    replace = {"天然气(立方米)": "天然气(万立方米)", "煤炭(千克)": "煤炭(吨)", "汽油(升)": "汽油(千克)",
               "柴油(升)": "柴油(吨)", "热力(百万千焦)": "热力(MJ)", "液化石油气(千克)": "液化石油气(吨)"}
    headers = [replace.get(h, h) for h in headers]
    row = monthly_row(1, **{"电力(千瓦时)": 3, "天然气(立方米)": 0.5, "煤炭(千克)": 2, "汽油(升)": 73,
                            "柴油(升)": 0.17, "热力(百万千焦)": 2500, "液化石油气(千克)": 0.25})
    parsed = parse_upload(write_xlsx(tmp_path / "units.xlsx", [row], headers))
    assert parsed.findings == []
    densities = reference.fuel_densities()
    got = parsed.frame.iloc[0]
    assert got["electricity_kwh"] == pytest.approx(30000)
    assert got["natural_gas_m3"] == pytest.approx(5000)
    assert got["coal_kg"] == pytest.approx(2000)
    assert got["lpg_kg"] == pytest.approx(250)
    assert got["gasoline_l"] == pytest.approx(73 / densities["gasoline_l"])
    assert got["diesel_l"] == pytest.approx(170 / densities["diesel_l"])
    assert got["heat_gj"] == pytest.approx(2.5)
    assert parsed.units_used["electricity_kwh"] == "万千瓦时"
    assert parsed.units_used["gasoline_l"] == "千克" and parsed.units_used["heat_gj"] == "MJ"


def test_header_aliases_and_full_width_brackets(tmp_path):
    aliases = {"统一社会信用代码": "社会信用代码", "用能人数(人)": "人数（人）", "电力(千瓦时)": "用电量（kWh）",
               "水(吨)": "用水量(立方米)", "统计期": "统计月份"}
    headers = [aliases.get(h, h) for h in MONTHLY_HEADERS]
    parsed = parse_upload(write_csv(tmp_path / "aliases.csv", [monthly_row(1, 统计期="2024年3月")], headers))
    assert parsed.findings == []
    assert parsed.frame.loc[0, ["headcount", "electricity_kwh", "water_t"]].tolist() == [100, 30000, 300]
    assert parsed.frame.loc[0, "period_month"] == "2024-03"


def test_thousands_separators_full_width_digits_and_blank_rows(tmp_path):
    rows = [
        monthly_row(1, **{"电力(千瓦时)": "1,234,567.5", "用能人数(人)": "１２０"}),
        [""] * len(MONTHLY_HEADERS),
        monthly_row(2, **{"建筑面积(平方米)": " 8,000 "}),
    ]
    parsed = parse_upload(write_csv(tmp_path / "m.csv", rows, encoding="gbk"))
    assert parsed.findings == []
    assert parsed.frame["source_row"].tolist() == [2, 4]  # the blank row 3 is skipped, numbering kept
    assert parsed.frame["electricity_kwh"].tolist() == [1234567.5, 30000]
    assert parsed.frame["headcount"].tolist() == [120, 100]
    assert parsed.frame["floor_area_m2"].tolist() == [5000, 8000]


def test_text_in_number_column_is_kept_for_the_rules(tmp_path):
    parsed = parse_upload(write_xlsx(tmp_path / "t.xlsx", [monthly_row(1, **{"电力(千瓦时)": "约3万"})]))
    assert parsed.findings == []
    assert math.isnan(parsed.frame.loc[0, "electricity_kwh"])
    assert parsed.frame.loc[0, "electricity_kwh__not_a_number"] == "约3万"


def _total_row(rows, **override):
    sums = [sum(r[i] for r in rows) if i >= 4 else "" for i in range(len(MONTHLY_HEADERS))]
    sums[0] = "合计"
    for header, value in override.items():
        sums[MONTHLY_HEADERS.index(header)] = value
    return sums


def test_matching_total_row_is_dropped(tmp_path):
    rows = [monthly_row(1), monthly_row(2, **{"电力(千瓦时)": 12345.67})]
    parsed = parse_upload(write_xlsx(tmp_path / "t.xlsx", [*rows, _total_row(rows)]))
    assert parsed.findings == [] and parsed.rows == 2


def test_total_row_mismatch_is_m015_on_the_total_row(tmp_path):
    rows = [monthly_row(1), monthly_row(2)]
    parsed = parse_upload(write_xlsx(tmp_path / "t.xlsx", [*rows, _total_row(rows, **{"电力(千瓦时)": 61000})]))
    assert parsed.rows == 2
    assert [(f.rule_id, f.severity, f.source_row, f.column_name) for f in parsed.findings] == [
        ("M015", "error", 4, "electricity_kwh")]
    assert "60,000" in parsed.findings[0].message_zh and "61,000" in parsed.findings[0].message_zh


def test_missing_column_and_unknown_unit_are_m001(tmp_path):
    headers = [h for h in MONTHLY_HEADERS if h != "水(吨)"]
    headers = [h.replace("电力(千瓦时)", "电力(焦耳)") for h in headers]
    rows = [[v for h, v in zip(MONTHLY_HEADERS, monthly_row(1), strict=True) if h != "水(吨)"]]
    parsed = parse_upload(write_xlsx(tmp_path / "t.xlsx", rows, headers))
    found = {(f.rule_id, f.column_name) for f in parsed.findings}
    assert found == {("M001", "electricity_kwh"), ("M001", "water_t")}
    assert any("焦耳" in f.message_zh for f in parsed.findings)


def test_task_progress_kind_and_task_code(tmp_path):
    path = write_task_xlsx(tmp_path / "450100_2024Q1_重点任务进展.xlsx",
                           [task_row(), task_row(任务类别="既有建筑节能改造", 数量="12,000", 计量单位="平方米")])
    parsed = parse_upload(path, "450100", "2024-03")
    assert parsed.kind == TASK_PROGRESS and parsed.findings == []
    assert parsed.frame["task_code"].tolist() == ["rooftop_pv_projects", "retrofit_area_m2"]
    assert parsed.frame["quantity"].tolist() == [2, 12000]
    assert parsed.frame["period_quarter"].tolist() == ["2024-Q1", "2024-Q1"]


@pytest.mark.parametrize("content, name, reason", [
    (b"PK\x03\x04 this is not really a zip", "broken.xlsx", "Excel"),
    (b"", "empty.csv", "空"),
    (b"\x00\x01\x02binary\xff\xfe\xfd" * 50, "binary.csv", ""),
    (b"some,random,header\n1,2,3\n", "other.csv", "表头"),
    (b"hello", "notes.pdf", "不支持"),
])
def test_unreadable_files_are_p001_never_an_exception(tmp_path, content, name, reason):
    path = tmp_path / name
    path.write_bytes(content)
    parsed = parse_upload(path)
    assert not parsed.readable
    assert [f.rule_id for f in parsed.findings] == ["P001"]
    assert reason in parsed.findings[0].message_zh


def test_truncated_xlsx_is_p001(tmp_path):
    good = write_xlsx(tmp_path / "good.xlsx", [monthly_row(1)])
    data = good.read_bytes()
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(data[: len(data) // 2])
    assert not zipfile.is_zipfile(broken)
    assert [f.rule_id for f in parse_upload(broken).findings] == ["P001"]


def test_missing_file_is_p001(tmp_path):
    assert [f.rule_id for f in parse_upload(tmp_path / "nope.csv").findings] == ["P001"]


def test_a_text_column_normalised_in_one_pass_equals_the_cell_by_cell_conversion():
    from energystat.ingest import parse

    texts = ["  11450100MB0000001X ", "ＡＢＣ１２３", "第一\u3000行", "e\u0301", "\u0301开头", "ß straße", "\t两头空白\n",
             "", "   ", "a b c", "全角（括号）", "ﬁ ligature", "x" * 300]
    for values in (texts, [*texts, 12.0], [*texts, "has\x00nul"]):
        for convert, credit in ((parse._cell_text, False), (parse._credit_code_text, True)):
            whole = parse._joined_texts(values, credit_codes=credit)
            if not all(isinstance(v, str) and "\x00" not in v for v in values):
                assert whole is None  # left to the cell-by-cell path
                continue
            assert whole == [convert(v) for v in values]
    column = ["ＡＢＣ", None, 3.0, "名称", "ＡＢＣ"]  # mixed cells through the frame builder's path
    assert list(parse._by_unique(column, parse._cell_text)) == [parse._cell_text(v) for v in column]
