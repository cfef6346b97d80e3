"""Report stage: what a city statistician gets for a validated upload, written from its `ValidationReport`.

A self-contained Chinese HTML page (templates/upload_report.html.j2), a JSON result, GX's own validation result,
and an .xlsx copy of the upload with the failing cells highlighted and a column `问题说明` giving the reasons per
row. `check_result` is the JSON `energystat check --json` prints, from the same report.

The HTML has its styles inline: it opens the same offline; it names the reporter, every finding's row, institution,
column, value and what to do, and how and by when to resubmit (the seed's deadline, the settings' contact). GX's
own Data Docs of the validation are written beside it (`<stem>_gx_data_docs/index.html`) for engineers and linked
from the JSON (`engineering`), not from the clerk's page.
Upload values are untrusted (energystat.untrusted): escaped in both pages, and written as text, never as
formulas, into the marked workbook.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import unicodedata
from pathlib import Path
from typing import Any

import jinja2

from energystat import config, reference
from energystat.contract.findings import ERROR, REVIEWABLE_RULES, WARNING, Finding
from energystat.contract.forms import MONTHLY_FORM, TASK_FORM
from energystat.contract.uploads import (
    ACCEPTED,
    ACCEPTED_WITH_WARNINGS,
    EXPLANATION_SUFFIX,
    HELD,
    MONTHLY,
    REJECTED,
)
from energystat.ingest.boundary import short_stem
from energystat.ingest.parse import ParsedUpload, normalise_text
from energystat.ingest.validate import ValidationReport
from energystat.ingest.validate.gx import write_gx_data_docs
from energystat.ingest.validate.results import clerk_number
from energystat.ingest.validate.rulebook import rule_descriptions
from energystat.untrusted import escape_gx_result, safe_name, set_text_cell

STATUS_ZH = {ACCEPTED: "通过", ACCEPTED_WITH_WARNINGS: "通过（有警告）", REJECTED: "不通过，已退回",
             HELD: "暂缓入库，待审核（问题均可经审核豁免，请附说明）"}
SEVERITY_ZH = {ERROR: "错误", WARNING: "警告"}
ERROR_FILL, WARNING_FILL = "FFC7CE", "FFEB9C"  # Excel's own "bad" red and "neutral" yellow
REASON_HEADER = "问题说明"
PRIOR_HEADER = "上年同期值"
#: Raw columns holding quantities: their values are shown as numbers for clerks (`shown_value`).
NUMERIC_COLUMNS = frozenset(c.raw for c in (*MONTHLY_FORM, *TASK_FORM) if c.numeric)
#: Computed shares a finding points at, shown as a percentage (M014's reporter completeness).
SHARE_COLUMNS = frozenset({"reporter_completeness"})


def report_json(parsed: ParsedUpload, report: ValidationReport) -> dict[str, Any]:
    """The JSON result: status (as the upload log records it: `held` for a rejection every error of which is
    reviewable), counts, units used, per-rule outcome and every finding."""
    return {
        "file": parsed.path.name, "kind": parsed.kind, "reporter_code": parsed.reporter_code, "period": parsed.period,
        "status": report.logged_status, "rows": report.rows, "error_count": report.error_count,
        "warning_count": report.warning_count, "units_used": parsed.units_used, "rule_summary": report.rule_summary,
        "rules": [
            {"id": o.rule_id, "severity": o.severity, "passed": None if o.skipped else o.passed,
             "failed": o.failed, "failed_rows": o.failed_rows, "description_zh": o.description_zh,
             "description_en": o.description_en, "skip_reason_zh": o.skip_reason_zh}
            for o in report.outcomes.values()
        ],
        "findings": [f.as_report_dict() for f in report.findings],
    }


def shown_value(finding: Finding, text: str | None) -> str:
    """A finding's value (`observed_value`, `prior_value`) as the clerk's page and workbook show it: a number of a
    quantity column (or a value computed from one, like an intensity) with `clerk_number` ("1,234.57", never
    0.30000000000000004), a share as a percentage ("87.5%"); anything else (a credit code, "三万") as given;
    nothing as ""."""
    if text is None:
        return ""
    if finding.column_name in NUMERIC_COLUMNS or finding.column_name in SHARE_COLUMNS:
        try:
            number = float(text)
        except ValueError:
            return text
        if not math.isfinite(number):
            return text
        return f"{clerk_number(number * 100)}%" if finding.column_name in SHARE_COLUMNS else clerk_number(number)
    return text


def shown_observed(finding: Finding) -> str:
    """The 填报值 cell: the finding's value, named when the rule computed it (人均综合能耗（计算值） 447.03)."""
    value = shown_value(finding, finding.observed_value)
    return f"{finding.observed_name} {value}" if finding.observed_name and value else value


def _engineers_links(result: dict[str, Any], paths: dict[str, Path], out: Path) -> dict[str, Any]:
    """GX's own result and Data Docs are for engineers: linked from the JSON, not offered to the clerk."""
    result["engineering"] = {
        name: paths[key].relative_to(out).as_posix()
        for name, key in (("gx_data_docs", "gx_docs"), ("gx_validation_result", "gx_json")) if paths[key].exists()
    }
    return result


def report_paths(parsed: ParsedUpload, out_dir: str | Path) -> dict[str, Path]:
    """Where `write_report` puts each file: {"html", "json", "gx_json", "gx_docs", "xlsx"} (names start with the
    upload's stem, so several reports can share a quarantine folder; gx_json/gx_docs/xlsx only exist for readable
    files; gx_docs is the index.html of GX's Data Docs folder). A long stem is shortened (`boundary.short_stem`) so
    every name stays under the 255-byte file-name limit."""
    out, stem = Path(out_dir), short_stem(parsed.path.stem)
    return {"html": out / f"{stem}_检查报告.html", "json": out / f"{stem}_检查结果.json",
            "gx_json": out / f"{stem}_gx_validation_result.json",
            "gx_docs": out / f"{stem}_gx_data_docs" / "index.html", "xlsx": out / f"{stem}_问题标注.xlsx"}


def write_report(parsed: ParsedUpload, report: ValidationReport, out_dir: str | Path) -> Path:
    """Write the report files (see `report_paths`) into `out_dir`; returns `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = report_paths(parsed, out)
    if report.gx_validation is not None:
        paths["gx_json"].write_text(json.dumps(report.gx_result, ensure_ascii=False, indent=2, default=str),
                                    encoding="utf-8")
        # GX's renderer puts the observed values into its page verbatim: build it from an escaped copy (a cell
        # `<script>…` would run in the reader's browser otherwise), under a file-name-safe run name.
        write_gx_data_docs(escape_gx_result(report.gx_validation), paths["gx_docs"].parent,
                           safe_name(short_stem(parsed.path.stem, 80)))
    result = _engineers_links(report_json(parsed, report), paths, out)
    paths["json"].write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    paths["html"].write_text(render_html(parsed, report), encoding="utf-8")
    if parsed.readable:
        write_marked_workbook(parsed, report.findings, paths["xlsx"])
    return out


#: The status `check` gives a file it cannot read (never stored: the upload log says `rejected`).
UNREADABLE_STATUS = "unreadable"


def check_result(path: Path, report: ValidationReport) -> dict[str, Any]:
    """The `--json` document: status (`unreadable`, else as the upload log would record it: accepted,
    accepted_with_warnings, rejected or held), file, rows and one entry per rule."""
    status = UNREADABLE_STATUS if report.unreadable else report.logged_status
    rules = []
    for outcome in report.outcomes.values():
        entry = {
            "id": outcome.rule_id, "severity": outcome.severity, "passed": outcome.passed,
            "failed_rows": outcome.failed_rows,
            "message_zh": outcome.description_zh, "message_en": outcome.description_en,
        }
        if outcome.skipped:
            entry["passed"] = None
            entry["message_zh"] += f"（跳过：{outcome.skip_reason_zh}）"
            entry["message_en"] += f" (skipped: {outcome.skip_reason_en})"
        elif not outcome.passed:
            messages = [f for f in report.findings if f.rule_id == outcome.rule_id]
            entry["message_zh"] = "；".join(_row_prefix_zh(f) + f.message_zh for f in messages[:20])
            entry["message_en"] = "; ".join(_row_prefix_en(f) + f.message_en for f in messages[:20])
            if len(messages) > 20:
                entry["message_zh"] += f"；等共 {len(messages)} 处"
                entry["message_en"] += f"; {len(messages)} in all"
        rules.append(entry)
    return {"status": status, "file": str(path), "rows": report.rows, "rules": rules}


def _row_prefix_zh(finding: Finding) -> str:
    return f"第 {finding.source_row} 行：" if finding.source_row else ""


def _row_prefix_en(finding: Finding) -> str:
    return f"row {finding.source_row}: " if finding.source_row else ""


# ---------------------------------------------------------------------------------------------------- HTML

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True,
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


#: What the clerk does about a finding, by severity.
ACTION_ZH = {ERROR: "改正后重新上报", WARNING: "核实；数据无误时在报送说明中写明原因"}
#: A reviewable error (REVIEWABLE_RULES) may be right: a reviewer approves it on the reporter's 说明.
REVIEWABLE_ACTION_ZH = "核实：有误则改正后重新上报；无误则附说明，由数据治理人员审核"


def action_zh(finding: Finding) -> str:
    """What the reporter does about one finding (the report's and the marked workbook's 处理 column)."""
    if finding.severity == ERROR and finding.rule_id in REVIEWABLE_RULES:
        return REVIEWABLE_ACTION_ZH
    return ACTION_ZH[finding.severity]


def reporter_label(code: str | None) -> str:
    """南宁市（450100）; the code alone when it is not a known reporter."""
    if not code:
        return "—"
    try:
        return f"{reference.reporter_name(code)}（{code}）"
    except (KeyError, ValueError, LookupError):
        return code


def resubmission(parsed: ParsedUpload) -> dict[str, str]:
    """The "how to resubmit" facts: the period's deadline (seed ref_reporting_deadlines) and the contact (settings)."""
    out = {"contact": config.settings().contact_zh, "deadline": "", "rule": ""}
    if parsed.period:
        try:
            day = reference.reporting_deadline(parsed.period)
            out["deadline"] = f"{day.year}年{day.month}月{day.day}日"
            out["rule"] = reference.deadline_rule_zh(parsed.period)
        except (KeyError, ValueError, LookupError):
            pass
    return out


def institution_names(parsed: ParsedUpload) -> dict[int, tuple[str, str]]:
    """source row -> (统一社会信用代码, 单位名称) as the file gave them."""
    frame = parsed.frame
    if frame is None or "source_row" not in getattr(frame, "columns", ()):
        return {}
    codes = frame["credit_code"] if "credit_code" in frame.columns else [None] * len(frame)
    names = frame["institution_name"] if "institution_name" in frame.columns else [None] * len(frame)
    return {int(r): (str(c or ""), str(n or "")) for r, c, n in zip(frame["source_row"], codes, names, strict=True)}


def render_html(parsed: ParsedUpload, report: ValidationReport) -> str:
    """The report page in Chinese (with English in small print), styles inline. Autoescaped: every value
    from the upload is shown as text."""
    units = "、".join(f"{parsed.column_header(c)}：{u}" for c, u in parsed.units_used.items()) or "—"
    return _TEMPLATES.get_template("upload_report.html.j2").render(
        parsed=parsed, report=report, file_name=parsed.path.name, units=units, status_zh=STATUS_ZH,
        logged_status=report.logged_status, severity_zh=SEVERITY_ZH, reason_header=REASON_HEADER, prior_header=PRIOR_HEADER,
        shown=shown_value, shown_observed=shown_observed, column_label=lambda c: _column_label(parsed, c),
        rule_ids=list(rule_descriptions(parsed.kind or MONTHLY)), reporter=reporter_label(parsed.reporter_code),
        institutions=institution_names(parsed), action_zh=action_zh, resubmit=resubmission(parsed),
        explanation_suffix=EXPLANATION_SUFFIX,
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"))


def _column_label(parsed: ParsedUpload, column: str | None) -> str | None:
    """The header the file used for a finding's column (a list of missing columns is shown as given)."""
    return parsed.column_header(column) if column and "," not in column else column


# ---------------------------------------------------------------------------------------------------- xlsx

ROW_TINT = "FDE9EC"  # the whole failing row, lighter than the failing cell's own fill


def write_marked_workbook(parsed: ParsedUpload, findings: list[Finding], path: Path) -> Path:
    """A copy of the upload's table (the cells the parser read): each failing row tinted, each failing cell filled
    (red = error, yellow = warning) and framed, a last column `问题说明` with the reasons of each row, and a sheet
    `问题汇总` listing every finding in Chinese. Columns fit their text; printing gives A4 landscape pages, one page
    wide, with the header row repeated."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    rows = parsed.table_cells()
    header_index = (parsed.header_row or 1) - 1
    header = rows[header_index] if rows else []
    position_of = {raw: i for raw, text in parsed.headers.items()
                   for i, cell in enumerate(header) if normalise_text(cell) == text}
    width = max((len(r) for r in rows), default=0)
    fills = {s: PatternFill("solid", start_color=c, end_color=c) for s, c in ((ERROR, ERROR_FILL),
                                                                              (WARNING, WARNING_FILL))}
    tint = PatternFill("solid", start_color=ROW_TINT, end_color=ROW_TINT)
    red = Side(style="medium", color="C00000")
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = (parsed.sheet or parsed.path.stem)[:31]
    for row_number, row in enumerate(rows, start=1):
        for column, value in enumerate(row, start=1):
            set_text_cell(sheet.cell(row=row_number, column=column), _excel_value(value))
    reason_col = width + 1
    sheet.cell(row=header_index + 1, column=reason_col, value=REASON_HEADER).font = Font(bold=True)
    reasons: dict[int, list[str]] = {}
    marked: dict[tuple[int, int], str] = {}
    for f in findings:
        if f.source_row is None:
            continue
        reasons.setdefault(f.source_row, []).append(f"[{f.rule_id}{SEVERITY_ZH[f.severity]}] {f.message_zh}")
        key = (f.source_row, position_of.get(f.column_name or "", 0) + 1)
        if marked.get(key) != ERROR:
            marked[key] = f.severity
    for row_number in reasons:  # the whole row first, then its failing cells on top
        for column in range(1, reason_col + 1):
            sheet.cell(row=row_number, column=column).fill = tint
    for (row_number, column), severity in marked.items():
        cell = sheet.cell(row=row_number, column=column)
        cell.fill = fills[severity]
        cell.border = Border(left=red, right=red, top=red, bottom=red)
    for row_number, texts in reasons.items():
        cell = sheet.cell(row=row_number, column=reason_col)
        set_text_cell(cell, "；".join(texts))
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    _fit_columns(sheet, reason_width=60)
    _print_setup(sheet, header_index + 1)

    summary = workbook.create_sheet("问题汇总")
    summary.append(["行号", "统一社会信用代码", "单位名称", "列", "填报值", PRIOR_HEADER, "规则", "级别", "问题说明", "处理"])
    for cell in summary[1]:
        cell.font = Font(bold=True)
    names = institution_names(parsed)
    for row_number, f in enumerate(findings, start=2):
        code, name = names.get(f.source_row or -1, (f.credit_code or "", ""))
        values = [f.source_row or "整个文件", f.credit_code or code, name, _column_label(parsed, f.column_name),
                  shown_observed(f), shown_value(f, f.prior_value), f.rule_id, SEVERITY_ZH[f.severity],
                  f.message_zh, action_zh(f)]
        for column, value in enumerate(values, start=1):
            set_text_cell(summary.cell(row=row_number, column=column), value)
    for row in summary.iter_rows(min_row=2):
        row[8].alignment = Alignment(wrap_text=True, vertical="top")
    _fit_columns(summary, reason_width=50)
    _print_setup(summary, 1)
    workbook.save(path)
    return path


def _fit_columns(sheet: Any, reason_width: int) -> None:
    """Each column as wide as its longest text (a Chinese character counts two), the last one capped and wrapped."""
    last = sheet.max_column
    for column_cells in sheet.iter_cols(min_row=1, max_row=sheet.max_row):
        letter = column_cells[0].column_letter
        longest = max((_display_width(str(c.value)) for c in column_cells if c.value is not None), default=4)
        sheet.column_dimensions[letter].width = min(reason_width, longest + 2) if column_cells[0].column == last \
            else min(40, max(6, longest + 2))


def _display_width(text: str) -> int:
    """Excel column units: a Chinese character is two, anything else one."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _print_setup(sheet: Any, header_row: int) -> None:
    """A4 landscape, one page wide, the header row repeated on every page."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)


def _excel_value(value: Any) -> Any:
    if isinstance(value, str | int | float | dt.date | dt.datetime) or value is None:
        return value
    return str(value)
