"""Upload templates: exact headers, pre-filled institutions, validation lists and hints read back with openpyxl."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from energystat import reference, templates
from energystat.cli import main
from energystat.contract import forms
from energystat.synth import generate


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tpl") / "landing"
    generate(out, institutions=60, years=[2023], seed=3, fmt="csv")
    return out / forms.REGISTRY_FILE


def _validations(sheet) -> dict[str, object]:
    return {str(dv.sqref).split(":")[0][0]: dv for dv in sheet.data_validations.dataValidation}


def test_monthly_template(registry: Path, tmp_path: Path) -> None:
    assert main(["template", "--region", "450100", "--period", "2023-05", "--out", str(tmp_path),
                 "--registry", str(registry)]) == 0
    path = tmp_path / "450100_2023-05_能源资源消费月报.xlsx"
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == [forms.MONTHLY_SHEET, templates.NOTES_SHEET]
    sheet = workbook[forms.MONTHLY_SHEET]
    assert [c.value for c in sheet[1]] == forms.MONTHLY_HEADERS
    expected = pd.read_csv(registry, dtype=str, keep_default_na=False)
    expected = expected[(expected["reporter_code"] == "450100") & (expected["active_from"] <= "2023-05-31")
                        & ((expected["active_to"] == "") | (expected["active_to"] >= "2023-05-01"))]
    filled = [(r[0].value, r[1].value, r[2].value, r[3].value) for r in sheet.iter_rows(min_row=2) if r[0].value]
    assert filled == list(zip(expected["credit_code"], expected["institution_name"],
                              expected["institution_subkind"], ["2023-05"] * len(expected), strict=True))
    dv = _validations(sheet)
    assert dv["C"].type == "list"
    assert dv["C"].formula1.strip('"').split(",") == list(reference.institution_kinds())
    assert dv["D"].formula1 == '"2023-05"'
    assert dv["G"].type == "decimal" and dv["G"].operator == "greaterThanOrEqual"
    assert "千瓦时" in dv["G"].prompt and dv["G"].showInputMessage
    assert sheet["G1"].comment is not None
    notes = "\n".join(str(c.value) for row in workbook[templates.NOTES_SHEET].iter_rows() for c in row if c.value)
    assert "2023-06-10" in notes and "南宁市" in notes and templates.contact() in notes
    assert "百万千焦" in notes


def test_task_template(tmp_path: Path) -> None:
    path = templates.task_template("450000", "2023-Q2", tmp_path)
    assert path.name == "450000_2023Q2_重点任务进展.xlsx"
    sheet = openpyxl.load_workbook(path)[forms.TASK_SHEET]
    assert [c.value for c in sheet[1]] == forms.TASK_HEADERS
    dv = _validations(sheet)
    assert dv["B"].formula1.strip('"').split(",") == [k.category_zh for k in reference.task_kinds().values()]
    assert dv["A"].formula1 == '"2023-Q2"'
    assert set(dv["E"].formula1.strip('"').split(",")) == {"区直", "市直", "县级"}
    kind_column = sheet.cell(row=1, column=forms.TASK_HEADERS.index("单位类型") + 1).column_letter
    assert dv[kind_column].formula1.strip('"').split(",") == ["党政机关", "事业单位"]  # as its prompt says
    # printed: A4 landscape, one page wide, the header row on every page
    assert sheet.page_setup.orientation == "landscape" and sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.page_setup.fitToWidth in (None, 1) and sheet.page_setup.fitToHeight in (0, "0")  # width 1 is the default
    assert sheet.print_title_rows == "$1:$1"
    # the notes a clerk reads: Chinese only, and one rule for cumulative tasks
    notes = " ".join(str(c.value) for row in openpyxl.load_workbook(path)[templates.NOTES_SHEET].iter_rows()
                     for c in row if c.value is not None)
    assert re.findall(r"[A-Za-z]{3,}", notes) == []
    assert "节约型机关创建" in notes and "填本季度新增数量；年度目标按累计数考核" in notes
    assert "填本季度新创建数量" not in notes


def test_template_refuses_unknown_reporter_and_missing_registry(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="450199"):
        templates.monthly_template("450199", "2023-05", tmp_path, tmp_path / "none.csv")
    with pytest.raises(FileNotFoundError, match="名录"):
        templates.monthly_template("450100", "2023-05", tmp_path, tmp_path / "none.csv")
