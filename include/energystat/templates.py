"""Upload templates for city statisticians: the monthly form and the quarterly task-progress form (.xlsx).

The monthly template is pre-filled with the reporter's institutions that are registered and active in the period
(from the registry export `institutions.csv`, by default the landing root's — the file the ingestion loads into
raw.institution_registry, so the template and the checks agree). Every column has an input hint with its unit,
lists for 单位类型 and 统计期, number checks (≥ 0), and a `填报说明` sheet with units, deadline and contact.

The contact line comes from the setting ENERGYSTAT_CONTACT_ZH (`config`; default: a placeholder naming the office).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import xlsxwriter
from xlsxwriter.workbook import Workbook

from energystat import config, reference
from energystat.contract import forms

NOTES_SHEET = "填报说明"
SPARE_ROWS = 50  # empty validated rows below the pre-filled institutions

#: What each monthly column means (the unit is in the header).
MONTHLY_HINTS = {
    "统一社会信用代码": "18位统一社会信用代码（GB 32100-2015），已按名录预填，请勿修改",
    "单位名称": "单位全称，已按名录预填",
    "单位类型": "从下拉列表选择：机关、高等学校、中小学校、医院、场馆、其他、团体",
    "统计期": "统计月份，格式 YYYY-MM",
    "用能人数(人)": "本月用能人数，单位：人（>0）",
    "建筑面积(平方米)": "建筑面积，单位：平方米（>0）",
    "电力(千瓦时)": "本月用电量，单位：千瓦时（度），不是万千瓦时",
    "水(吨)": "本月用水量，单位：吨（立方米）",
    "天然气(立方米)": "本月天然气用量，单位：立方米，不是万立方米",
    "液化石油气(千克)": "本月液化石油气用量，单位：千克",
    "煤炭(千克)": "本月煤炭用量，单位：千克",
    "汽油(升)": "本月汽油用量，单位：升",
    "柴油(升)": "本月柴油用量，单位：升",
    "热力(百万千焦)": "本月外购热力，单位：百万千焦（GJ）",
    "光伏发电量(千瓦时)": "本月自有光伏发电量，单位：千瓦时（仅供参考，不从用电量中扣减）",
}
TASK_HINTS = {
    "统计期": "统计季度，格式 YYYY-Qn",
    "任务类别": "从下拉列表选择任务类别",
    "项目名称": "项目或事项名称",
    "实施单位统一社会信用代码": "实施单位18位统一社会信用代码（有则填写）",
    "单位级别": "节水型单位必填：区直、市直、县级",
    "单位类型": "节水型单位必填：党政机关、事业单位",
    "数量": "数量（≥0），计量单位见下一列",
    "计量单位": "须与任务类别一致，见“填报说明”",
    "备注": "其他说明",
}
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def contact() -> str:
    return config.settings().contact_zh


def default_registry() -> Path:
    return config.landing_dir() / forms.REGISTRY_FILE


def registered_institutions(registry: Path, reporter: str, period: str) -> list[dict[str, str]]:
    """Institutions of `reporter` active in month `period` (YYYY-MM), in registry order."""
    if not registry.exists():
        raise FileNotFoundError(
            f"找不到单位名录 {registry}（institution registry not found; pass --registry PATH to institutions.csv)")
    year, month = (int(x) for x in period.split("-"))
    first = dt.date(year, month, 1).isoformat()
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).isoformat()
    with registry.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if r["reporter_code"] == reporter and r["active_from"] <= last
            and (not r.get("active_to") or r["active_to"] >= first)]


def _check_reporter(reporter: str) -> str:
    if reporter not in reference.reporter_codes():
        raise ValueError(f"未知的报送单位代码 {reporter!r}（unknown reporter code; expected one of "
                         f"{', '.join(reference.reporter_codes())})")
    return reporter


def monthly_template(reporter: str, period: str, out_dir: str | Path, registry: str | Path | None = None) -> Path:
    """Write `<reporter>_<period>_能源资源消费月报.xlsx` into out_dir; returns its path."""
    _check_reporter(reporter)
    if not _MONTH.match(period):
        raise ValueError(f"统计期须为 YYYY-MM（period must be YYYY-MM）: {period!r}")
    institutions = registered_institutions(Path(registry) if registry else default_registry(), reporter, period)
    path = Path(out_dir) / forms.monthly_file_name(reporter, period)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet(forms.MONTHLY_SHEET)
    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    text = workbook.add_format({"num_format": "@"})
    sheet.set_row(0, 32)
    sheet.freeze_panes(1, 2)
    sheet.set_column(0, 0, 22, text)
    sheet.set_column(1, 1, 34)
    sheet.set_column(2, 3, 11, text)
    sheet.set_column(4, len(forms.MONTHLY_HEADERS) - 1, 14)
    sheet.write_row(0, 0, forms.MONTHLY_HEADERS, header)
    for r, inst in enumerate(institutions, start=1):
        sheet.write_string(r, 0, inst["credit_code"])
        sheet.write_string(r, 1, inst["institution_name"])
        sheet.write_string(r, 2, inst["institution_subkind"])
        sheet.write_string(r, 3, period)
    last_row = len(institutions) + SPARE_ROWS
    for col, name in enumerate(forms.MONTHLY_HEADERS):
        hint = MONTHLY_HINTS[name]
        sheet.write_comment(0, col, hint)
        rule: dict = {"input_title": name[:32], "input_message": hint[:255]}
        if name == "单位类型":
            rule.update(validate="list", source=list(reference.institution_kinds()),
                        error_message="请从下拉列表选择单位类型")
        elif name == "统计期":
            rule.update(validate="list", source=[period], error_message=f"本表统计期为 {period}")
        elif name == "统一社会信用代码":
            rule.update(validate="length", criteria="==", value=18, error_message="统一社会信用代码应为18位")
        elif col >= 4:
            minimum = 1 if name in ("用能人数(人)", "建筑面积(平方米)") else 0
            rule.update(validate="decimal", criteria=">=", value=minimum,
                        error_message=f"请填写不小于 {minimum} 的数字，单位见表头，不要带千分位或文字")
        else:
            rule.update(validate="any")
        sheet.data_validation(1, col, last_row, col, rule)
    _notes_sheet(workbook, reporter, period,
                 [(h, u, MONTHLY_HINTS[h]) for h, u in zip(forms.MONTHLY_HEADERS, _units(forms.MONTHLY_HEADERS),
                                                          strict=True)],
                 extra=[f"已预填本单位名录中 {len(institutions)} 家在统计期内存续的公共机构；名录外新增单位请在下方空行补充，"
                        "并同步报送名录更新。"])
    _print_setup(sheet)
    workbook.close()
    return path


def _units(headers: list[str]) -> list[str]:
    return [h[h.index("(") + 1:-1] if "(" in h else "" for h in headers]


def task_template(reporter: str, period: str, out_dir: str | Path) -> Path:
    """Write `<reporter>_<YYYY>Q<n>_重点任务进展.xlsx`; period is YYYY-Qn (or a month of the quarter)."""
    _check_reporter(reporter)
    if m := _MONTH.match(period):
        period = f"{m[1]}-Q{(int(m[2]) - 1) // 3 + 1}"
    if not (m := _QUARTER.match(period)):
        raise ValueError(f"统计期须为 YYYY-Qn（period must be YYYY-Qn）: {period!r}")
    year, quarter = int(m[1]), int(m[2])
    kinds = reference.task_kinds()
    path = Path(out_dir) / forms.task_file_name(reporter, year, quarter)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet(forms.TASK_SHEET)
    header = workbook.add_format({"bold": True, "bg_color": "#E2EFDA", "border": 1})
    sheet.freeze_panes(1, 0)
    sheet.set_column(0, 0, 10)
    sheet.set_column(1, 1, 22)
    sheet.set_column(2, 2, 40)
    sheet.set_column(3, 3, 24)
    sheet.set_column(4, 8, 12)
    sheet.write_row(0, 0, forms.TASK_HEADERS, header)
    lists = {"统计期": [period], "任务类别": [k.category_zh for k in kinds.values()],
             "单位级别": reference.admin_levels(), "单位类型": list(WATER_SAVING_KINDS),
             "计量单位": sorted({k.unit_zh for k in kinds.values()})}
    for col, name in enumerate(forms.TASK_HEADERS):
        sheet.write_comment(0, col, TASK_HINTS[name])
        rule: dict = {"input_title": name[:32], "input_message": TASK_HINTS[name]}
        if name in lists:
            rule.update(validate="list", source=lists[name], error_message=f"请从下拉列表选择{name}")
        elif name == "数量":
            rule.update(validate="decimal", criteria=">=", value=0, error_message="数量应为不小于0的数字")
        else:
            rule.update(validate="any")
        sheet.data_validation(1, col, 500, col, rule)
    _notes_sheet(workbook, reporter, period,
                 [(k.category_zh, k.unit_zh,
                   "填本季度新增数量；年度目标按累计数考核，系统自动累计，不要填累计数" if k.is_cumulative
                   else "填本季度完成数量")
                  for k in kinds.values()],
                 extra=["每个项目或事项填一行；节水型单位建设每个单位一行，须填写单位级别和单位类型"
                        f"（{'、'.join(WATER_SAVING_KINDS)}）。"])
    _print_setup(sheet)
    workbook.close()
    return path


#: 单位类型 of the task form: the kinds the seed's 节水型单位 targets name (ref_task_targets), as its hint says.
WATER_SAVING_KINDS = ("党政机关", "事业单位")


def _print_setup(sheet) -> None:  # noqa: ANN001 - xlsxwriter Worksheet
    """A4 landscape, one page wide, the header row on every page."""
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(0)


def _notes_sheet(workbook: Workbook, reporter: str, period: str, table: list[tuple[str, str, str]],
                 extra: list[str]) -> None:
    notes = workbook.add_worksheet(NOTES_SHEET)
    bold = workbook.add_format({"bold": True})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    notes.set_column(0, 0, 22)
    notes.set_column(1, 1, 14)
    notes.set_column(2, 2, 80, wrap)
    deadline = reference.reporting_deadline(period)
    rule = reference.deadline_rule_zh(period)  # the seed row valid for this period, as the deadline itself
    lines = [
        ("报送单位", f"{reference.reporter_name(reporter)}（{reporter}）"),
        ("统计期", period),
        ("报送截止", f"{deadline.isoformat()}（{rule}）"),
        ("联系方式", contact()),
        ("文件要求", "请保持表头、工作表名称不变；数字不带千分位、不带单位文字；单位按表头填写。"),
    ]
    notes.write(0, 0, "填报说明", bold)
    for r, (label, value) in enumerate(lines, start=1):
        notes.write(r, 0, label, bold)
        notes.write(r, 2, value, wrap)
    start = len(lines) + 2
    notes.write_row(start, 0, ["栏目", "计量单位", "说明"], bold)
    for r, row in enumerate(table, start=start + 1):
        notes.write_row(r, 0, list(row), wrap)
    for r, line in enumerate(extra, start=start + len(table) + 2):
        notes.write(r, 2, line, wrap)
    notes.set_paper(9)
    notes.fit_to_pages(1, 0)
