"""`energystat explain` and `energystat review`: attach a 说明 to an upload; list and decide pending reviews."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="attach an explanation (说明) to an upload (its landing path or file name)")
    p.add_argument("file", help="the upload's landing path (<reporter>/<YYYY-MM>/<file>) or file name")
    p.add_argument("--text", required=True, help="the explanation, in Chinese")
    p.set_defaults(handler=_explain)
    r = sub.add_parser("review", help="list pending reviews (待审核) or decide one (normally done in Airflow)")
    r.add_argument("upload_id", nargs="?", type=int, help="decide this upload (omit to list pending reviews)")
    r.add_argument("--decision", choices=["同意入库", "退回", "要求补充说明"])
    r.add_argument("--reviewer", help="who decides (recorded in ops.review_decisions)")
    r.add_argument("--comment", help="审核意见 (required with --decision)")
    r.set_defaults(handler=_review)


def _explain(args: argparse.Namespace) -> int:
    from energystat import warehouse
    from energystat.ingest import review

    upload_id = review.explain(warehouse.warehouse_dsn(), args.file, args.text)
    print(f"说明已记录 / explanation recorded for upload {upload_id}")
    return 0


def _review(args: argparse.Namespace) -> int:
    from energystat import warehouse
    from energystat.ingest import review

    dsn = warehouse.warehouse_dsn()
    if args.upload_id is None:
        for item in review.pending_reviews(dsn):
            print(f"{item.upload_id}\t{item.reporter_code}\t{item.period}\t{item.file_name}\t"
                  f"{len(item.findings)} findings\t{item.explanation[:40]}")
        return 0
    if not (args.decision and args.reviewer and args.comment):
        pending = review.pending_reviews(dsn, args.upload_id)
        print(review.describe(pending[0]) if pending else f"upload {args.upload_id} is not waiting for a review")
        return 0 if pending else 1
    try:
        result = review.decide(dsn, args.upload_id, args.decision, args.reviewer, args.comment)
    except review.ReviewError as exc:
        print(f"error: {exc}")
        return 1
    print(f"{result['decision']}: upload {result['upload_id']}, {result['rows_loaded']} rows loaded")
    return 0
