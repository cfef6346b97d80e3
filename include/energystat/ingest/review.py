"""Review stage: held uploads (every error may be overridden) that carry a 说明, decided by a person.

    `held` upload (rejected, every error rule reviewable: contract.findings.REVIEWABLE_RULES), explanation given
      -> pending review (the `review_exceptions` DAG asks a governance reviewer, or `energystat review`)
      -> 同意入库 approve: loaded exactly as an accepted file (load.load_reviewed), findings kept, marked overridden
      -> 退回 return: the upload becomes `rejected`, the comment recorded
      -> 要求补充说明 more requested: pending again once a newer explanation arrives

Every decision is a row of ops.review_decisions (insert-only), written as the loader; pending reviews are read as
the transformer (energystat.roles). No Airflow import: the DAG's tasks call these.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from energystat import roles, warehouse
from energystat.contract.findings import ERROR, REVIEWABLE_RULES
from energystat.contract.review import APPROVE, DECISIONS, OPTIONS, REQUEST_MORE, RETURN
from energystat.contract.uploads import EXPLANATION_SUFFIX, HELD, MONTHLY, REJECTED
from energystat.ingest.landing import LandingFile
from energystat.ingest.load import load_reviewed
from energystat.ingest.parse import parse_upload
from energystat.ingest.validate.results import clerk_number
from energystat.reference import reporter_name

log = logging.getLogger(__name__)



class ReviewError(ValueError):
    """A decision that cannot be applied (not pending, no comment, file gone)."""


@dataclass
class ReviewFinding:
    source_row: int | None
    credit_code: str | None
    column_name: str | None
    rule_id: str
    message_zh: str
    observed_value: str | None
    last_year_value: str | None = None


@dataclass
class PendingReview:
    upload_id: int
    path: str
    file_name: str
    reporter_code: str | None
    period: str | None
    kind: str
    received_at: str
    explanation: str
    report_path: str | None
    findings: list[ReviewFinding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# A held upload is pending when: it has error findings and all of them are reviewable; it has an explanation
# (its own, or the portal submission's); it has no final decision; and it was not answered 要求补充说明 after its
# latest explanation. An upload a later accepted file replaced is still shown (the reviewer may return it).
_PENDING_SQL = """
with explained as (
    select u.upload_id, coalesce(
        (select e.explanation from ops.upload_explanations e where e.upload_id = u.upload_id
         order by e.given_at desc, e.explanation_id desc limit 1),
        (select s.explanation from ops.portal_submissions s where s.landing_path = u.path
         and length(btrim(coalesce(s.explanation, ''))) > 0 order by s.submitted_at desc limit 1)) as explanation,
        greatest((select max(e.given_at) from ops.upload_explanations e where e.upload_id = u.upload_id),
                 (select max(s.submitted_at) from ops.portal_submissions s where s.landing_path = u.path))
            as explained_at
    from ops.upload_log u
    where u.status = %(held)s
)
select u.upload_id, u.path, u.file_name, u.reporter_code, u.period, u.kind, u.received_at::text, x.explanation,
       u.report_path
from ops.upload_log u join explained x using (upload_id)
where x.explanation is not null
  and exists (select 1 from ops.dq_findings f where f.upload_id = u.upload_id and f.severity = %(error)s)
  and not exists (select 1 from ops.dq_findings f where f.upload_id = u.upload_id and f.severity = %(error)s
                  and not f.rule_id = any(%(reviewable)s))
  and not exists (select 1 from ops.review_decisions d where d.upload_id = u.upload_id
                  and (d.decision <> 'more_requested' or d.decided_at >= x.explained_at))
  {only}
order by u.received_at, u.upload_id
"""


def pending_reviews(dsn: str, upload_id: int | None = None) -> list[PendingReview]:
    """The uploads waiting for a reviewer, oldest first, each with its error findings and last year's values."""
    only = "and u.upload_id = %(upload_id)s" if upload_id is not None else ""
    params = {"held": HELD, "error": ERROR, "reviewable": sorted(REVIEWABLE_RULES), "upload_id": upload_id}
    # Read-only, over ops (the portal's submissions too, which the loader may not read) and raw: the transformer.
    with warehouse.connect(dsn, role=roles.TRANSFORMER) as conn:
        reviews = [PendingReview(*row) for row in conn.execute(_PENDING_SQL.format(only=only), params).fetchall()]
        for review in reviews:
            review.findings = _findings(conn, review)
    return reviews


def _findings(conn: psycopg.Connection, review: PendingReview) -> list[ReviewFinding]:
    rows = conn.execute(
        "select source_row, credit_code, column_name, rule_id, message_zh, observed_value from ops.dq_findings"
        " where upload_id = %s and severity = %s order by source_row nulls first, finding_id",
        (review.upload_id, ERROR),
    ).fetchall()
    found = [ReviewFinding(*row) for row in rows]
    if review.kind == MONTHLY and review.period:
        last_year = date(int(review.period[:4]) - 1, int(review.period[5:7]), 1)
        for f in found:
            if f.credit_code and f.column_name and f.column_name.isidentifier():
                value = conn.execute(
                    f"select m.{f.column_name}::text from raw.monthly_statistics m join ops.upload_log u"
                    " using (upload_id) where u.status in ('accepted', 'accepted_with_warnings')"
                    " and m.credit_code = %s and m.period_month = %s limit 1",
                    (f.credit_code, last_year),
                ).fetchone() if _is_raw_column(conn, f.column_name) else None
                f.last_year_value = value[0] if value else None
    return found


def _is_raw_column(conn: psycopg.Connection, column: str) -> bool:
    return conn.execute(
        "select 1 from information_schema.columns where table_schema = 'raw'"
        " and table_name = 'monthly_statistics' and column_name = %s", (column,)).fetchone() is not None


def _number(value: str | None) -> str:
    """A finding's value as the reports show numbers (1,247,327.7), anything else as stored."""
    try:
        number = float(value) if value is not None else math.nan
    except ValueError:
        return value or ""
    return clerk_number(number) if math.isfinite(number) else value or ""


def describe(review: PendingReview, report_base_url: str = "") -> str:
    """The review in Chinese Markdown: reporter, period, each finding with row, value and last year's value, the
    explanation, and the report links (the HITL task's body, and the reviewer alert)."""
    reporter = f"{reporter_name(review.reporter_code)}（{review.reporter_code}）" if review.reporter_code else "未知"
    lines = [f"**报送单位**：{reporter}", f"**统计期**：{review.period or '未知'}",
             f"**文件**：{review.file_name}（上传编号 {review.upload_id}，收到于 {review.received_at}）", "",
             "**需审核的问题**：", "",
             "| 行 | 统一社会信用代码 | 规则 | 本期值 | 去年同期值 | 说明 |", "|---|---|---|---|---|---|"]
    for f in review.findings:
        lines.append(f"| {f.source_row or '全文件'} | {f.credit_code or ''} | {f.rule_id} | {_number(f.observed_value)}"
                     f" | {_number(f.last_year_value) or '无'} | {f.message_zh} |")
    lines += ["", f"**报送单位的说明**：{review.explanation}", ""]
    if review.report_path:
        link = f"{report_base_url.rstrip('/')}/{Path(review.report_path).name}" if report_base_url else review.report_path
        lines.append(f"**检查报告**：{link}")
    lines += ["", f"请选择：{APPROVE}（按已接受文件入库，问题标记为已豁免）/ {RETURN}（不入库，文件转为拒收）/ {REQUEST_MORE}。"
              "必须填写审核意见。"]
    return "\n".join(lines)


def decide(dsn: str, upload_id: int, option: str, reviewer: str, comment: str, via: str = "cli") -> dict[str, Any]:
    """Apply a reviewer's choice (one of OPTIONS) in one transaction; returns the decision row as a dict."""
    if option not in DECISIONS:
        raise ReviewError(f"unknown option {option!r}; one of {OPTIONS}")
    if not (comment or "").strip():
        raise ReviewError("审核意见必填 / a reviewer's comment is required")
    if not (reviewer or "").strip():
        raise ReviewError("reviewer required")
    pending = pending_reviews(dsn, upload_id)
    if not pending:
        raise ReviewError(f"upload {upload_id} is not waiting for a review")
    review = pending[0]
    decision = DECISIONS[option]
    with warehouse.connect(dsn, role=roles.LOADER) as conn, conn.transaction():  # rows of ops and raw: the loader's
        overridden = len(review.findings) if decision == "approved" else 0
        decision_id = conn.execute(
            "insert into ops.review_decisions (upload_id, reviewer, decision, comment, findings_overridden, via)"
            " values (%s, %s, %s, %s, %s, %s) returning decision_id",
            (upload_id, reviewer, decision, comment, overridden, via),
        ).fetchone()[0]
        rows = 0
        if decision == "returned":  # final: the held upload is now a rejection
            conn.execute("update ops.upload_log set status = %s, processed_at = now() where upload_id = %s",
                         (REJECTED, upload_id))
        if decision == "approved":
            rows = _load(conn, review)
            conn.execute("update ops.dq_findings set overridden_by = %s where upload_id = %s and severity = %s",
                         (decision_id, upload_id, ERROR))
    log.info("upload %d: %s by %s (%d rows loaded)", upload_id, decision, reviewer, rows)
    return {"decision_id": decision_id, "upload_id": upload_id, "decision": decision, "reviewer": reviewer,
            "comment": comment, "findings_overridden": overridden, "rows_loaded": rows,
            "reporter_code": review.reporter_code, "period": review.period, "file_name": review.file_name}


def approve(dsn: str, upload_id: int, reviewer: str, comment: str, via: str = "cli") -> dict[str, Any]:
    return decide(dsn, upload_id, APPROVE, reviewer, comment, via)


def return_(dsn: str, upload_id: int, reviewer: str, comment: str, via: str = "cli") -> dict[str, Any]:
    return decide(dsn, upload_id, RETURN, reviewer, comment, via)


def request_more(dsn: str, upload_id: int, reviewer: str, comment: str, via: str = "cli") -> dict[str, Any]:
    return decide(dsn, upload_id, REQUEST_MORE, reviewer, comment, via)


def _load(conn: psycopg.Connection, review: PendingReview) -> int:
    """Parse the quarantined file again and load it as the load stage loads an accepted file."""
    if not review.report_path:
        raise ReviewError(f"upload {review.upload_id}: no quarantine folder recorded")
    quarantined = Path(review.report_path).parent / review.file_name
    if not quarantined.is_file():
        raise ReviewError(f"upload {review.upload_id}: quarantined file {quarantined} is gone")
    parsed = parse_upload(quarantined, reporter_code=review.reporter_code, period=review.period)
    f = LandingFile(review.path, review.reporter_code, review.period, review.kind, "", 0)
    return load_reviewed(conn, f, review.upload_id, parsed)


# --------------------------------------------------------------------------------------------------------------
# Explanations


def sidecar_of(path: Path) -> Path:
    """`<file>.说明.txt` beside an upload."""
    return path.with_name(path.name + EXPLANATION_SUFFIX)


def is_sidecar(name: str) -> bool:
    return name.endswith(EXPLANATION_SUFFIX)


def record_explanation(conn: psycopg.Connection, upload_id: int, text: str, source: str) -> None:
    """Store a 说明 for an upload (empty text is ignored)."""
    if text.strip():
        conn.execute("insert into ops.upload_explanations (upload_id, explanation, source) values (%s, %s, %s)",
                     (upload_id, text.strip(), source))


def explain(dsn: str, file: str, text: str) -> int:
    """`energystat explain FILE --text …`: attach a 说明 to the latest upload of that file (landing path or name);
    returns its upload id."""
    with warehouse.connect(dsn, role=roles.LOADER) as conn:
        row = conn.execute(
            "select upload_id from ops.upload_log where path = %s or file_name = %s"
            " order by upload_id desc limit 1", (file, Path(file).name)).fetchone()
        if row is None:
            raise ReviewError(f"no upload of {file} is known")
        record_explanation(conn, row[0], text, "cli")
        conn.commit()
    return int(row[0])


# --------------------------------------------------------------------------------------------------------------
# Alert texts (the DAG sends them through energystat.ingest.alert)


def pending_message(review: PendingReview) -> tuple[str, str]:
    """Reviewer channel: a new review is waiting."""
    title = f"【待审核】{reporter_name(review.reporter_code or '')} {review.period} 报送文件需审核（上传 {review.upload_id}）"
    return title, describe(review) + "\n\n请在 Airflow 的 review_exceptions 任务中作出决定。"


def reminder_message(upload_id: int, days: float) -> tuple[str, str]:
    """Governance channel: a review has waited past `reminder_days`."""
    return (f"【审核超时提醒】上传 {upload_id} 已超过 {days:g} 天未审核",
            f"上传 {upload_id} 的异常审核仍未作出决定，请尽快在 Airflow 的 review_exceptions 中处理。")


def decision_message(result: dict[str, Any]) -> tuple[str, str]:
    """Reporter channel: what the reviewer decided, with the comment."""
    zh = {"approved": "同意入库", "returned": "退回", "more_requested": "要求补充说明"}[result["decision"]]
    title = f"【审核结果：{zh}】{reporter_name(result['reporter_code'] or '')} {result['period']} {result['file_name']}"
    body = (f"审核人：{result['reviewer']}\n审核意见：{result['comment']}\n"
            + (f"已入库 {result['rows_loaded']} 行，相关问题标记为已豁免。" if result["decision"] == "approved" else
               "文件不入库，已转为拒收状态。" if result["decision"] == "returned" else
               "请补充说明：把说明写入与文件同名的 .说明.txt，或通过报送门户/energystat explain 提交。"))
    return title, body
