"""Reports of a validated upload for the city statistician: a self-contained Chinese HTML page, a JSON result,
GX's own validation result, and an .xlsx copy of the upload with the failing cells highlighted and a column
`问题说明` giving the reasons per row.

The HTML has its styles inline: it opens the same offline. GX's own Data Docs page of the validation is written
beside it (`<stem>_gx_data_docs/index.html`) and linked from it; those link their CSS/JS from a CDN and open
unstyled without internet.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from energystat.parsing import Finding, ParsedUpload, normalise_text, read_cells
from energystat.rules import ValidationReport, rule_descriptions, run_gx, write_gx_data_docs

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
        write_gx_data_docs(validation, paths["gx_docs"].parent, parsed.path.stem)
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


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def render_html(parsed: ParsedUpload, report: ValidationReport, gx_docs: Path | None = None) -> str:
    """The report page in Chinese (with English in small print), styles inline; `gx_docs` = relative path of GX's
    Data Docs index.html to link, if written."""
    descriptions = rule_descriptions(parsed.kind or "monthly")
    rule_rows = []
    for o in report.outcomes.values():
        if o.skipped:
            state, css = f"跳过：{_e(o.skip_reason_zh)}", "skipped"
        elif o.passed:
            state, css = "通过", "ok"
        else:
            state, css = f"未通过：{o.failed} 处", o.severity
        rule_rows.append(f"<tr class='{css}'><td>{o.rule_id}</td><td>{SEVERITY_ZH[o.severity]}</td>"
                         f"<td>{_e(o.description_zh)}<div class='en'>{_e(o.description_en)}</div></td><td>{state}</td></tr>")
    finding_rows = [
        f"<tr class='{f.severity}'><td>{f.source_row or '整个文件'}</td><td>{f.rule_id}</td>"
        f"<td>{SEVERITY_ZH[f.severity]}</td><td>{_e(parsed.column_header(f.column_name) if f.column_name and ',' not in f.column_name else f.column_name)}</td>"
        f"<td>{_e(f.observed_value)}</td><td>{_e(f.message_zh)}<div class='en'>{_e(f.message_en)}</div></td></tr>"
        for f in report.findings
    ]
    units = "、".join(f"{parsed.column_header(c)}：{u}" for c, u in parsed.units_used.items()) or "—"
    generated = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    docs_link = "" if gx_docs is None else (
        f"<p>技术附件：<a href=\"{_e(quote(gx_docs.as_posix()))}\">Great Expectations 数据文档（Data Docs）</a>，"
        "逐条列出每项期望的检查结果。该页面的样式从互联网加载，离线打开时没有排版，内容完整。</p>"
        "<p class='en'>GX Data Docs of this validation; its CSS/JS come from a CDN, so offline it opens "
        "unstyled.</p>")
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>数据检查报告 {_e(parsed.path.name)}</title>
<style>{_CSS}</style></head><body>
<h1>公共机构能源资源统计 数据检查报告</h1>
<table>
<tr><th>文件</th><td>{_e(parsed.path.name)}</td></tr>
<tr><th>上报地区 / 统计期</th><td>{_e(parsed.reporter_code)} / {_e(parsed.period)}</td></tr>
<tr><th>数据行数</th><td>{report.rows}</td></tr>
<tr><th>计量单位</th><td>{_e(units)}</td></tr>
<tr><th>结论</th><td class="status {'error' if report.status == 'rejected' else ''}">{STATUS_ZH[report.status]}
（错误 {report.error_count} 处，警告 {report.warning_count} 处）<div class="en">{report.status}</div></td></tr>
</table>
<p>行号为文件中的行号（表头为第 1 行）。“错误”须改正后重新上报；“警告”请核实，必要时说明原因。
另附 Excel 标注文件：出错的单元格已标色，最后一列“{REASON_HEADER}”写明原因。</p>
<h2>规则检查结果</h2>
<table><tr><th>规则</th><th>级别</th><th>说明</th><th>结果</th></tr>{''.join(rule_rows)}</table>
<h2>问题明细（{len(report.findings)} 处）</h2>
<table><tr><th>行号</th><th>规则</th><th>级别</th><th>列</th><th>填报值</th><th>说明</th></tr>{''.join(finding_rows)}</table>
{docs_link}<p class="en">Rules: {len(descriptions)} ({', '.join(descriptions)}). Generated {generated} by energystat.</p>
</body></html>
"""


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
        if f.severity == "error" or cell.fill.start_color.rgb not in ("00" + ERROR_FILL, ERROR_FILL):
            cell.fill = fills[f.severity]
    for row_number, texts in reasons.items():
        sheet.cell(row=row_number, column=reason_col, value="；".join(texts))
    sheet.column_dimensions[sheet.cell(row=1, column=reason_col).column_letter].width = 60

    summary = workbook.create_sheet("问题汇总")
    summary.append(["行号", "规则", "级别", "列", "填报值", "问题说明", "description"])
    for f in findings:
        summary.append([f.source_row or "整个文件", f.rule_id, SEVERITY_ZH[f.severity],
                        parsed.column_header(f.column_name) if f.column_name and "," not in f.column_name
                        else f.column_name, f.observed_value, f.message_zh, f.message_en])
    workbook.save(path)
    return path


def _excel_value(value: Any) -> Any:
    if isinstance(value, str | int | float | dt.date | dt.datetime) or value is None:
        return value
    return str(value)
