"""Helpers that write real upload files (xlsx via openpyxl, CSV in any encoding) for the parsing and rule tests."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from energystat import creditcode
from energystat.contract.forms import MONTHLY_HEADERS, MONTHLY_SHEET, TASK_HEADERS, TASK_SHEET


def credit_code(n: int, region: str = "450100") -> str:
    """A valid 统一社会信用代码 (事业单位 12…) with a correct check character."""
    first17 = f"12{region}{n:09d}"
    return first17 + creditcode.check_character(first17)


def monthly_row(n: int, period: str = "2024-03", region: str = "450100", **changes: Any) -> list[Any]:
    """A clean 机关 row, inside every plausible range (36.9 kgce/person, 0.74 kgce/m², 3 t water/person)."""
    values = {
        "统一社会信用代码": credit_code(n, region), "单位名称": f"测试单位{n}", "单位类型": "机关", "统计期": period,
        "用能人数(人)": 100, "建筑面积(平方米)": 5000, "电力(千瓦时)": 30000, "水(吨)": 300, "天然气(立方米)": 100,
        "液化石油气(千克)": 0, "煤炭(千克)": 0, "汽油(升)": 200, "柴油(升)": 0, "热力(百万千焦)": 0,
        "光伏发电量(千瓦时)": 0,
    }
    assert set(changes) <= set(values), f"unknown headers {set(changes) - set(values)}"
    values.update(changes)
    return [values[h] for h in MONTHLY_HEADERS]


def task_row(**changes: Any) -> list[Any]:
    values = {"统计期": "2024-Q1", "任务类别": "屋顶光伏项目", "项目名称": "屋顶光伏一期",
              "实施单位统一社会信用代码": credit_code(1), "单位级别": "市直", "单位类型": "事业单位",
              "数量": 2, "计量单位": "个", "备注": ""}
    values.update(changes)
    return [values[h] for h in TASK_HEADERS]


def write_xlsx(path: Path, rows: list[list[Any]], headers: list[str] | None = None,
               sheet: str = MONTHLY_SHEET) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    ws = workbook.active
    ws.title = sheet
    ws.append(headers if headers is not None else MONTHLY_HEADERS)
    for row in rows:
        ws.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def write_csv(path: Path, rows: list[list[Any]], headers: list[str] | None = None, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(headers if headers is not None else MONTHLY_HEADERS)
        writer.writerows(rows)
    return path


def write_task_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    return write_xlsx(path, rows, TASK_HEADERS, TASK_SHEET)


@pytest.fixture(scope="module")
def gx_rules():
    """The validate stage's functions with the GX context built once for the module (GX's import is slow)."""
    from types import SimpleNamespace

    from energystat.ingest import validate
    from energystat.ingest.validate import context, gx, rulebook

    gx._gx()
    return SimpleNamespace(
        load_suites=rulebook.load_suites, rule_descriptions=rulebook.rule_descriptions, _gx_suite=gx._gx_suite,
        load_context=context.load_context, load_contexts=context.load_contexts,
        context_for_check=context.context_for_check, context_without_warehouse=context.context_without_warehouse,
        validate=validate.validate, validate_many=validate.validate_many)
