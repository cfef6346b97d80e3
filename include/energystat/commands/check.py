"""`energystat check FILE`: the pre-check a city statistician runs before uploading (same parse and rules, no load).

Exit codes: 0 accepted (warnings allowed), 1 rejected, 2 unreadable, 3 held for review (every error is one a
governance reviewer may override, e.g. a correction removing many institutions: the upload would load nothing
until a reviewer approves it, and needs a 说明 explaining why — not the same as 1, which must be fixed).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from energystat.ingest.validate import ValidationReport


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check an upload file against the rulebook without loading it (预检)")
    p.add_argument("file", help="the .xlsx or .csv file to check")
    p.add_argument("--region", help="reporter code, e.g. 450100 (default: from the path <reporter>/<YYYY-MM>/file)")
    p.add_argument("--period", help="period YYYY-MM (default: from the path)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=_run)


_STATUS_TEXT = {
    "accepted": "通过 accepted",
    "accepted_with_warnings": "通过（有警告）accepted with warnings",
    "rejected": "不通过 rejected",
    "held": "暂缓入库，待审核 held for review",
    "unreadable": "无法读取 unreadable",
}
_EXIT_CODES = {"accepted": 0, "accepted_with_warnings": 0, "rejected": 1, "unreadable": 2, "held": 3}


def _print_table(result: dict[str, Any], report: ValidationReport) -> None:
    print(f"文件 file: {result['file']}    数据行 rows: {result['rows']}")
    print(f"结论 status: {_STATUS_TEXT[result['status']]}")
    if result["status"] == "held":
        print("  上报时须附说明（例如单位撤并、数据属实的原因）；数据治理人员审核同意后方可入库，审核前不入库。")
        print("  upload it with a 说明 (why, e.g. institutions closed); nothing is loaded until a reviewer approves.")
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

    # imported when the command runs (pandas; GX inside validate): `energystat --help` stays instant
    from energystat.contract.uploads import reporter_and_period
    from energystat.ingest.parse import parse_bounded
    from energystat.ingest.report import check_result
    from energystat.ingest.validate import validate
    from energystat.ingest.validate.context import context_for_check, context_without_warehouse

    path = Path(args.file)
    reporter, period = reporter_and_period(path.resolve())
    reporter, period = args.region or reporter, args.period or period
    parsed, _engineer_error = parse_bounded(path, reporter, period)  # a hostile file cannot crash the check
    if not parsed.readable:
        context = context_without_warehouse(reporter, period, "file unreadable")
    else:
        context = context_for_check(reporter, period)
    report = validate(parsed, context)
    result = check_result(path, report)
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        _print_table(result, report)
    return _EXIT_CODES[result["status"]]
