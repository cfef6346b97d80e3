"""`energystat rules`: print the data-governance rulebook (the GX suites in expectations/) as a table."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="print the data-quality rulebook (规则清单) from the expectation suites")
    p.add_argument("--json", action="store_true", help="print the rules as JSON")
    p.set_defaults(handler=_run)


_KIND_TITLE = {"monthly": "能源资源消费月报 monthly statistics", "task_progress": "重点任务进展 task progress"}


def _run(args: argparse.Namespace) -> int:
    import json

    from energystat.ingest.validate.rulebook import rule_table

    table = rule_table()
    if args.json:
        print(json.dumps(table, ensure_ascii=False, indent=2))
        return 0
    kind = None
    for row in table:
        if row["kind"] != kind:
            kind = row["kind"]
            print(f"\n{_KIND_TITLE.get(kind, kind)}")
            print(f"{'规则 id':<8}{'级别 severity':<16}{'可审核 reviewable':<19}{'中文说明':<40}English")
        severity = "错误 error" if row["severity"] == "error" else "警告 warning"
        reviewable = "可审核 yes" if row["reviewable"] == "yes" else "否 no"
        print(f"{row['rule_id']:<8}{severity:<16}{_pad(reviewable, 19)}{_pad(row['description_zh'], 40)}{row['description_en']}")
    return 0


def _pad(text: str, width: int) -> str:
    """Left-justify counting CJK characters as two columns, so the table lines up in a terminal."""
    shown = sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
    return text + " " * max(1, width - shown)
