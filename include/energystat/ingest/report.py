"""Report stage: what a city statistician gets for a validated upload, written from its `ValidationReport`.

A self-contained Chinese HTML page (templates/upload_report.html.j2), a JSON result, GX's own validation result,
and an .xlsx copy of the upload with the failing cells highlighted and a column `问题说明` giving the reasons per
row. `check_result` is the JSON `energystat check --json` prints, from the same report.

The HTML has its styles inline: it opens the same offline. GX's own Data Docs page of the validation is written
beside it (`<stem>_gx_data_docs/index.html`) and linked from it; those link their CSS/JS from a CDN and open
unstyled without internet.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from energystat.contract.findings import ERROR, WARNING, Finding
from energystat.contract.uploads import ACCEPTED, ACCEPTED_WITH_WARNINGS, MONTHLY, REJECTED
from energystat.ingest.boundary import short_stem
from energystat.ingest.parse import ParsedUpload, normalise_text
from energystat.ingest.validate import ValidationReport
from energystat.ingest.validate.gx import write_gx_data_docs
from energystat.ingest.validate.rulebook import rule_descriptions

STATUS_ZH = {ACCEPTED: "通过", ACCEPTED_WITH_WARNINGS: "通过（有警告）", REJECTED: "不通过，已退回"}
SEVERITY_ZH = {ERROR: "错误", WARNING: "警告"}
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
    paths["json"].write_text(json.dumps(report_json(parsed, report), ensure_ascii=False, indent=2), encoding="utf-8")
    if report.gx_validation is not None:
        write_gx_data_docs(report.gx_validation, paths["gx_docs"].parent, short_stem(parsed.path.stem, 80))
        paths["gx_json"].write_text(json.dumps(report.gx_result, ensure_ascii=False, indent=2, default=str),
                                    encoding="utf-8")
    paths["html"].write_text(render_html(parsed, report, paths["gx_docs"].relative_to(out)
                                         if paths["gx_docs"].exists() else None), encoding="utf-8")
    if parsed.readable:
        write_marked_workbook(parsed, report.findings, paths["xlsx"])
    return out


#: The status `check` gives a file it cannot read (never stored: the upload log says `rejected`).
UNREADABLE_STATUS = "unreadable"


def check_result(path: Path, report: ValidationReport) -> dict[str, Any]:
    """The `--json` document: status, file, rows and one entry per rule."""
    status = UNREADABLE_STATUS if report.unreadable else report.status
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


def render_html(parsed: ParsedUpload, report: ValidationReport, gx_docs: Path | None = None) -> str:
    """The report page in Chinese (with English in small print), styles inline; `gx_docs` = relative path of GX's
    Data Docs index.html to link, if written."""
    units = "、".join(f"{parsed.column_header(c)}：{u}" for c, u in parsed.units_used.items()) or "—"
    return _TEMPLATES.get_template("upload_report.html.j2").render(
        parsed=parsed, report=report, file_name=parsed.path.name, units=units, status_zh=STATUS_ZH,
        severity_zh=SEVERITY_ZH, reason_header=REASON_HEADER, column_label=lambda c: _column_label(parsed, c),
        gx_docs=quote(gx_docs.as_posix()) if gx_docs is not None else None,
        rule_ids=list(rule_descriptions(parsed.kind or MONTHLY)),
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"))


def _column_label(parsed: ParsedUpload, column: str | None) -> str | None:
    """The header the file used for a finding's column (a list of missing columns is shown as given)."""
    return parsed.column_header(column) if column and "," not in column else column


# ---------------------------------------------------------------------------------------------------- xlsx

def write_marked_workbook(parsed: ParsedUpload, findings: list[Finding], path: Path) -> Path:
    """A copy of the upload's table (the cells the parser read) with failing cells filled (red = error, yellow = warning), a last column
    `问题说明` with the reasons of each row, and a sheet `问题汇总` listing every finding."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    rows = parsed.cells
    header_index = (parsed.header_row or 1) - 1
    header = rows[header_index] if rows else []
    position_of = {raw: i for raw, text in parsed.headers.items()
                   for i, cell in enumerate(header) if normalise_text(cell) == text}
    width = max((len(r) for r in rows), default=0)
    fills = {s: PatternFill("solid", start_color=c, end_color=c) for s, c in ((ERROR, ERROR_FILL),
                                                                              (WARNING, WARNING_FILL))}
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = (parsed.sheet or parsed.path.stem)[:31]
    for row in rows:
        sheet.append([_excel_value(v) for v in row])
    reason_col = width + 1
    sheet.cell(row=header_index + 1, column=reason_col, value=REASON_HEADER).font = Font(bold=True)
    reasons: dict[int, list[str]] = {}
    for f in findings:
        if f.source_row is None:
            continue
        reasons.setdefault(f.source_row, []).append(f"[{f.rule_id}{SEVERITY_ZH[f.severity]}] {f.message_zh}")
        column = position_of.get(f.column_name or "", 0)
        cell = sheet.cell(row=f.source_row, column=column + 1)
        if f.severity == ERROR or cell.fill.start_color.rgb not in ("00" + ERROR_FILL, ERROR_FILL):
            cell.fill = fills[f.severity]
    for row_number, texts in reasons.items():
        sheet.cell(row=row_number, column=reason_col, value="；".join(texts))
    sheet.column_dimensions[sheet.cell(row=1, column=reason_col).column_letter].width = 60

    summary = workbook.create_sheet("问题汇总")
    summary.append(["行号", "规则", "级别", "列", "填报值", "问题说明", "description"])
    for f in findings:
        summary.append([f.source_row or "整个文件", f.rule_id, SEVERITY_ZH[f.severity],
                        _column_label(parsed, f.column_name), f.observed_value, f.message_zh, f.message_en])
    workbook.save(path)
    return path


def _excel_value(value: Any) -> Any:
    if isinstance(value, str | int | float | dt.date | dt.datetime) or value is None:
        return value
    return str(value)
