"""
### Governance review of explained exceptions (`review_exceptions`)

A `held` upload (rejected, every error *reviewable* (unit slip ×≥5/÷≥5, size change, plausibility range, the
correction guard) that carries a 说明 is a **pending review**. Each run asks a governance reviewer, one
human-in-the-loop task per pending upload, in Chinese: 同意入库 (load it exactly as an accepted file, its
findings marked overridden) / 退回 (becomes `rejected`) / 要求补充说明. The comment is required. Every decision is a
row of `ops.review_decisions` (insert-only). A review unanswered for `ENERGYSTAT_REVIEW_REMINDER_DAYS` (default 3)
alerts the governance channel and asks again.

Runs when an ingestion run held a file (Asset `ops/upload_log`), every 30 minutes (explanations added
later) and by hand; one run at a time. The work lives in `energystat.ingest.review`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from energystat.contract.review import OPTIONS, reminder_days
from energystat.orchestration.glue import HELD_UPLOADS_ASSET, Tag, alert_urls, default_args, reporter_urls


def _remind(context) -> None:
    """on_retry_callback of a review task: its response timed out; tell governance and ask again."""
    from energystat.ingest import alert, review

    upload_id = context["ti"].xcom_pull(task_ids="find_pending_reviews")[context["ti"].map_index]["upload_id"]
    alert.send(*review.reminder_message(upload_id, reminder_days()), alert_urls())


@dag(
    dag_id="review_exceptions",
    # at once when an ingestion run held a file, and every 30 minutes for explanations added later
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/30 * * * *", timezone="Asia/Shanghai"),
                                 assets=HELD_UPLOADS_ASSET),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    description="异常数据审核：有说明的可审核拒收文件由治理人员决定是否入库 / governance review of explained exceptions",
    doc_md=__doc__,
    tags=[Tag.PROJECT, Tag.DATA_QUALITY],
    default_args=default_args(),
)
def review_exceptions():
    @task
    def find_pending_reviews() -> list[dict]:
        from energystat import warehouse
        from energystat.ingest import alert, review

        pending = review.pending_reviews(warehouse.warehouse_dsn())
        for item in pending:
            alert.send(*review.pending_message(item), alert_urls())
        return [{"upload_id": p.upload_id, "subject": f"异常审核：{p.reporter_code} {p.period} {p.file_name}",
                 "body": review.describe(p)} for p in pending]

    @task
    def review_kwargs(pending: list[dict]) -> list[dict]:
        return [{"subject": p["subject"], "body": p["body"]} for p in pending]

    pending = find_pending_reviews()
    answers = HITLOperator.partial(
        task_id="review_upload",
        options=OPTIONS,
        # Required: an empty comment is refused when the decision is applied (a minLength would fail the
        # task before it asks, the form being empty then).
        params={"comment": Param("", type="string", title="审核意见（必填）")},
        response_timeout=timedelta(days=reminder_days()),
        retries=20,  # each timeout reminds governance (on_retry_callback) and asks again
        retry_delay=timedelta(minutes=1),
        on_retry_callback=_remind,
    ).expand_kwargs(review_kwargs(pending))

    @task
    def apply_decisions(pending: list[dict], answers: list[dict]) -> list[dict]:
        from energystat import warehouse
        from energystat.ingest import alert, review
        from energystat.monitoring import channels

        results, refused = [], []
        for item, answer in zip(pending, answers, strict=True):  # one refused answer never blocks the others
            who = answer.get("responded_by_user") or {}
            reviewer = who.get("name") or who.get("id") or "unknown"
            try:
                result = review.decide(warehouse.warehouse_dsn(), item["upload_id"], answer["chosen_options"][0],
                                       reviewer, (answer.get("params_input") or {}).get("comment", ""),
                                       via="airflow")
            except review.ReviewError as exc:
                refused.append(f"upload {item['upload_id']}: {exc}")
                continue
            # the reporter hears the decision on its own channel (governance when it has none)
            alert.send(*review.decision_message(result),
                       channels.urls_for(result["reporter_code"] or "", reporter_urls(), alert_urls()))
            results.append(result)
        if refused:  # e.g. no comment: the upload stays pending and the next run asks again
            raise RuntimeError("; ".join(refused))
        return results

    apply_decisions(pending, answers.output)


review_exceptions()
