"""`energystat check FILE`: the pre-check a city statistician runs before uploading (same parse and rules, no load).

Exit codes: 0 accepted (warnings allowed), 1 rejected, 2 unreadable.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

_FOLDER = re.compile(r"^\d{6}$")
_PERIOD = re.compile(r"^\d{4}-\d{2}$")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check an upload file against the rulebook without loading it (预检)")
    p.add_argument("file", help="the .xlsx or .csv file to check")
    p.add_argument("--region", help="reporter code, e.g. 450100 (default: from the path <reporter>/<YYYY-MM>/file)")
    p.add_argument("--period", help="period YYYY-MM (default: from the path)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=_run)


def reporter_and_period_from_path(path: Path) -> tuple[str | None, str | None]:
    """(`450100`, `2024-03`) when the file sits in `<reporter>/<YYYY-MM>/`, else (None, None)."""
    parts = path.resolve().parts
    if len(parts) >= 3 and _FOLDER.match(parts[-3]) and _PERIOD.match(parts[-2]):
        return parts[-3], parts[-2]
    return None, None


def check_result(path: Path, report) -> dict:  # noqa: ANN001 (ValidationReport, imported lazily)
    """The `--json` document: status, file, rows and one entry per rule."""
    status = "unreadable" if report.unreadable else report.status
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


def _row_prefix_zh(finding) -> str:  # noqa: ANN001
    return f"第 {finding.source_row} 行：" if finding.source_row else ""


def _row_prefix_en(finding) -> str:  # noqa: ANN001
    return f"row {finding.source_row}: " if finding.source_row else ""


_STATUS_TEXT = {
    "accepted": "通过 accepted",
    "accepted_with_warnings": "通过（有警告）accepted with warnings",
    "rejected": "不通过 rejected",
    "unreadable": "无法读取 unreadable",
}


def _print_table(result: dict, report) -> None:  # noqa: ANN001
    print(f"文件 file: {result['file']}    数据行 rows: {result['rows']}")
    print(f"结论 status: {_STATUS_TEXT[result['status']]}")
    print()
    print(f"{'规则':<6}{'级别':<10}{'结果':<12}说明 / description")
    for rule in result["rules"]:
        state = "跳过 skipped" if rule["passed"] is None else ("通过 ok" if rule["passed"] else "未通过 FAIL")
        severity = "错误 error" if rule["severity"] == "error" else "警告 warn"
        outcome = report.outcomes[rule["id"]]
        print(f"{rule['id']:<6}{severity:<10}{state:<12}{outcome.description_zh} / {outcome.description_en}")
    if report.findings:
        print()
        print("问题明细 findings (行号 = 文件中的行号，表头为第 1 行 / row numbers as in the file, header = row 1):")
        for f in report.findings:
            row = f"第{f.source_row}行" if f.source_row else "整个文件"
            print(f"  [{f.rule_id} {f.severity}] {row}: {f.message_zh}")
            print(f"  {'':>{len(f.rule_id) + len(f.severity) + 3}} {f.message_en}")


def _run(args: argparse.Namespace) -> int:
    import json
    import sys

    from energystat import parsing, rules

    path = Path(args.file)
    reporter, period = reporter_and_period_from_path(path)
    reporter, period = args.region or reporter, args.period or period
    parsed = parsing.parse_upload(path, reporter_code=reporter, period=period)
    if not parsed.readable:
        context = rules.context_without_warehouse(reporter, period, "file unreadable")
    else:
        context = rules.context_for_check(reporter, period)
    report = rules.validate(parsed, context)
    result = check_result(path, report)
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        _print_table(result, report)
    return {"accepted": 0, "accepted_with_warnings": 0, "rejected": 1, "unreadable": 2}[result["status"]]
