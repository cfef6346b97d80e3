"""Reports of a validated upload for the city statistician: a self-contained Chinese HTML page, a JSON result,
GX's own validation result, and an .xlsx copy of the upload with the failing cells highlighted and a column
`问题说明` giving the reasons per row.

The HTML has its styles inline: it opens the same offline. GX's own Data Docs page of the validation is written
beside it (`<stem>_gx_data_docs/index.html`) and linked from it; those link their CSS/JS from a CDN and open
unstyled without internet. Upload values are untrusted (energystat.untrusted): escaped in both pages, and
written as text, never as formulas, into the marked workbook.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from energystat.parsing import Finding, ParsedUpload, normalise_text, read_cells
from energystat.rules import ValidationReport, rule_descriptions, run_gx, write_gx_data_docs
from energystat.untrusted import escape_gx_result, safe_name, set_text_cell

STATUS_ZH = {"accepted": "通过", "accepted_with_warnings": "通过（有警告）", "rejected": "不通过，已退回"}
SEVERITY_ZH = {"error": "错误", "warning": "警告"}
ERROR_FILL, WARNING_FILL = "FFC7CE", "FFEB9C"  # Excel's own "bad" red and "neutral" yellow
REASON_HEADER = "问题说明"


def report_json(parsed: ParsedUpload, report: ValidationReport) -> dict[str, Any]:
    """The JSON result: status, counts, units used, per-rule outcome and every finding."""
    return {
        "file": parsed.path.name, "kind": parsed.kind, "reporter_code": parsed.reporter_code, "period": parsed.period,
        "status": report.status, "rows": report.rows, "error_count": report.error_count,
        "warning_count": report.warning_count, "units_used": parsed.units_used, "rule_summary": report.rule_summary,
        "rules": [
            {"id": o.rule_id, "severity": o.severity, "passed": None if o.skipped else o.passed,
             "failed": o.failed, "failed_rows": o.failed_rows, "description_zh": o.description_zh,
             "description_en": o.description_en, "skip_reason_zh": o.skip_reason_zh}
            for o in report.outcomes.values()
        ],
        "findings": [f.as_dict() for f in report.findings],
    }


def report_paths(parsed: ParsedUpload, out_dir: str | Path) -> dict[str, Path]:
    """Where `write_report` puts each file: {"html", "json", "gx_json", "gx_docs", "xlsx"} (names start with the
    upload's stem, so several reports can share a quarantine folder; gx_json/gx_docs/xlsx only exist for readable
    files; gx_docs is the index.html of GX's Data Docs folder)."""
    out, stem = Path(out_dir), parsed.path.stem
    return {"html": out / f"{stem}_检查报告.html", "json": out / f"{stem}_检查结果.json",
            "gx_json": out / f"{stem}_gx_validation_result.json",
            "gx_docs": out / f"{stem}_gx_data_docs" / "index.html", "xlsx": out / f"{stem}_问题标注.xlsx"}


def write_report(parsed: ParsedUpload, report: ValidationReport, out_dir: str | Path) -> Path:
    """Write the report files (see `report_paths`) into `out_dir`; returns `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = report_paths(parsed, out)
    paths["json"].write_text(json.dumps(report_json(parsed, report), ensure_ascii=False, indent=2), encoding="utf-8")
    gx_result = report.gx_result
    if report.frame is not None and parsed.kind:
        # Data Docs need GX's result object (validate_many keeps none per file, single checks keep only its JSON):
        # run this one file again (≈ 0.1 s) for GX's own record and page.
        validation = run_gx(parsed.kind, report.frame)
        gx_result = gx_result if gx_result is not None else validation.to_json_dict()
        # GX's renderer puts the observed values into the page verbatim: escape them first (stored XSS otherwise)
        write_gx_data_docs(escape_gx_result(validation), paths["gx_docs"].parent, safe_name(parsed.path.stem))
    paths["html"].write_text(render_html(parsed, report, paths["gx_docs"].relative_to(out)
                                         if paths["gx_docs"].exists() else None), encoding="utf-8")
    if gx_result is not None:
        paths["gx_json"].write_text(json.dumps(gx_result, ensure_ascii=False, indent=2, default=str),
                                    encoding="utf-8")
    if parsed.readable:
        write_marked_workbook(parsed, report.findings, paths["xlsx"])
    return out


# ---------------------------------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:"Microsoft YaHei","PingFang SC","Noto Sans CJK SC",sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;margin:1em 0;font-size:.92em}
th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}th{background:#eef}
.error{background:#ffc7ce}.warning{background:#ffeb9c}.ok{color:#176b2c}.skipped{color:#777}
.status{font-size:1.2em;font-weight:bold}.en{color:#666;font-size:.85em}
"""


REPORT_TEMPLATE = Path(__file__).parent / "report_templates" / "check_report.html.j2"


def render_html(parsed: ParsedUpload, report: ValidationReport, gx_docs: Path | None = None) -> str:
    """The report page in Chinese (with English in small print), styles inline; `gx_docs` = relative path of GX's
    Data Docs index.html to link, if written. Rendered by Jinja with autoescape: every value is shown as text."""
    import jinja2

    rules = []
    for o in report.outcomes.values():
        if o.skipped:
            state, css = f"跳过：{o.skip_reason_zh}", "skipped"
        elif o.passed:
            state, css = "通过", "ok"
        else:
            state, css = f"未通过：{o.failed} 处", o.severity
        rules.append({"id": o.rule_id, "severity_zh": SEVERITY_ZH[o.severity], "description_zh": o.description_zh,
                      "description_en": o.description_en, "state": state, "css": css})
    findings = [
        {"row": f.source_row or "整个文件", "rule_id": f.rule_id, "severity": f.severity,
         "severity_zh": SEVERITY_ZH[f.severity],
         "column": parsed.column_header(f.column_name) if f.column_name and "," not in f.column_name
         else f.column_name,
         "observed_value": f.observed_value, "message_zh": f.message_zh, "message_en": f.message_en}
        for f in report.findings
    ]
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return environment.from_string(REPORT_TEMPLATE.read_text(encoding="utf-8")).render(
        css=_CSS, file_name=parsed.path.name, reporter_code=parsed.reporter_code, period=parsed.period,
        rows=report.rows, status=report.status, status_zh=STATUS_ZH[report.status],
        error_count=report.error_count, warning_count=report.warning_count, reason_header=REASON_HEADER,
        units="、".join(f"{parsed.column_header(c)}：{u}" for c, u in parsed.units_used.items()) or "—",
        rules=rules, findings=findings, gx_docs=None if gx_docs is None else quote(gx_docs.as_posix()),
        rule_ids=list(rule_descriptions(parsed.kind or "monthly")),
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
    )


# ---------------------------------------------------------------------------------------------------- xlsx

def write_marked_workbook(parsed: ParsedUpload, findings: list[Finding], path: Path) -> Path:
    """A copy of the upload's table with failing cells filled (red = error, yellow = warning), a last column
    `问题说明` with the reasons of each row, and a sheet `问题汇总` listing every finding."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    rows, _sheet = read_cells(parsed.path)
    header_index = (parsed.header_row or 1) - 1
    header = rows[header_index] if rows else []
    position_of = {raw: i for raw, text in parsed.headers.items()
                   for i, cell in enumerate(header) if normalise_text(cell) == text}
    width = max((len(r) for r in rows), default=0)
    fills = {s: PatternFill("solid", start_color=c, end_color=c) for s, c in (("error", ERROR_FILL),
                                                                              ("warning", WARNING_FILL))}
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = (parsed.sheet or parsed.path.stem)[:31]
    for row_number, row in enumerate(rows, start=1):
        for column, value in enumerate(row, start=1):
            set_text_cell(sheet.cell(row=row_number, column=column), _excel_value(value))
    reason_col = width + 1
    sheet.cell(row=header_index + 1, column=reason_col, value=REASON_HEADER).font = Font(bold=True)
    reasons: dict[int, list[str]] = {}
    for f in findings:
        if f.source_row is None:
            continue
        reasons.setdefault(f.source_row, []).append(f"[{f.rule_id}{SEVERITY_ZH[f.severity]}] {f.message_zh}")
        column = position_of.get(f.column_name or "", 0)
        cell = sheet.cell(row=f.source_row, column=column + 1)
        if f.severity == "error" or cell.fill.start_color.rgb not in ("00" + ERROR_FILL, ERROR_FILL):
            cell.fill = fills[f.severity]
    for row_number, texts in reasons.items():
        set_text_cell(sheet.cell(row=row_number, column=reason_col), "；".join(texts))
    sheet.column_dimensions[sheet.cell(row=1, column=reason_col).column_letter].width = 60

    summary = workbook.create_sheet("问题汇总")
    summary.append(["行号", "规则", "级别", "列", "填报值", "问题说明", "description"])
    for row_number, f in enumerate(findings, start=2):
        values = [f.source_row or "整个文件", f.rule_id, SEVERITY_ZH[f.severity],
                  parsed.column_header(f.column_name) if f.column_name and "," not in f.column_name
                  else f.column_name, f.observed_value, f.message_zh, f.message_en]
        for column, value in enumerate(values, start=1):
            set_text_cell(summary.cell(row=row_number, column=column), value)
    workbook.save(path)
    return path


def _excel_value(value: Any) -> Any:
    if isinstance(value, str | int | float | dt.date | dt.datetime) or value is None:
        return value
    return str(value)
