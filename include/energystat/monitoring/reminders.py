"""Deadline reminders: each reporter still owing an accepted upload, N days before the deadline and daily after it.

The deadline is the platform's one rule (seed ref_reporting_deadlines, read by `reference.reporting_deadline`,
the same seed the timeliness mart reads). Periods owed start at the first period in the upload log, as in
int_expected_uploads. "Accepted" counts any upload ever accepted (also one since superseded), as the
timeliness mart's first accepted upload does. It reads and writes rows of `ops` only: the loader's job
(energystat.roles).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg

from energystat import reference, roles, warehouse
from energystat.contract.uploads import LIVE_STATUSES, MONTHLY, SUPERSEDED, TASK_PROGRESS
from energystat.monitoring import channels
from energystat.monitoring.outbox import SENT, UNDELIVERED, Message, UndeliveredError, send_once

DAYS_BEFORE_ENV = "ENERGYSTAT_REMINDER_DAYS_BEFORE"
DEFAULT_DAYS_BEFORE = 3
#: The upload kinds that owe a file per period, and their Chinese names.
FORMS = {MONTHLY: "能源资源消费月报", TASK_PROGRESS: "重点任务进展（季报）"}
#: An upload ever accepted counts (also one since superseded), as the timeliness mart's first accepted upload.
ACCEPTED_EVER = (*LIVE_STATUSES, SUPERSEDED)


def days_before() -> int:
    return int(os.environ.get(DAYS_BEFORE_ENV, DEFAULT_DAYS_BEFORE))


@dataclass(frozen=True)
class Reminder:
    reporter_code: str
    upload_kind: str
    period: str  # YYYY-MM (task progress: the quarter's last month, as in the upload log)
    deadline: dt.date
    today: dt.date

    @property
    def is_overdue(self) -> bool:
        return self.today > self.deadline

    @property
    def kind(self) -> str:
        return "deadline_overdue" if self.is_overdue else "deadline_before"


def deadline_of(upload_kind: str, period_month: dt.date) -> dt.date:
    """The reporting deadline of an upload kind and period (one rule: reference.reporting_deadline)."""
    if upload_kind == TASK_PROGRESS:
        return reference.reporting_deadline(f"{period_month.year}-Q{(period_month.month - 1) // 3 + 1}")
    return reference.reporting_deadline(f"{period_month:%Y-%m}")  # the monthly form


def _next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def periods_due(first_month: dt.date, today: dt.date, notice_days: int) -> list[tuple[str, dt.date, dt.date]]:
    """(upload kind, period month, deadline) of every period from first_month whose deadline is exactly
    `notice_days` ahead of today or already past."""
    due = []
    month = first_month
    while month <= today:  # a period's deadline falls after the period has begun
        for kind in FORMS:
            if kind == TASK_PROGRESS and month.month % 3:
                continue
            deadline = deadline_of(kind, month)
            if deadline < today or deadline - dt.timedelta(days=notice_days) == today:
                due.append((kind, month, deadline))
        month = _next_month(month)
    return due


def due_reminders(conn: psycopg.Connection, today: dt.date, notice_days: int) -> list[Reminder]:
    """Every (reporter, form, period) lacking an accepted upload whose reminder falls on `today`."""
    first = conn.execute(
        "select min(to_date(period, 'YYYY-MM')) from ops.upload_log"
        " where kind = any(%s) and period ~ '^\\d{4}-\\d{2}$'", (list(FORMS),)).fetchone()[0]
    if first is None:
        return []  # nothing was ever uploaded: the platform has not started collecting
    accepted = set(conn.execute(
        "select distinct reporter_code, kind, period from ops.upload_log where status = any(%s)",
        (list(ACCEPTED_EVER),)).fetchall())
    return [
        Reminder(code, kind, f"{month:%Y-%m}", deadline, today)
        for kind, month, deadline in periods_due(first, today, notice_days)
        for code in reference.reporter_codes()
        if (code, kind, f"{month:%Y-%m}") not in accepted
    ]


def reminder_message(reminder: Reminder) -> Message:
    """The reminder in Chinese, for the reporter's statistician."""
    who = f"{reference.reporter_name(reminder.reporter_code)}（{reminder.reporter_code}）"
    form = FORMS[reminder.upload_kind]
    period = reminder.period if reminder.upload_kind == MONTHLY else \
        f"{reminder.period[:4]}年第{(int(reminder.period[5:]) - 1) // 3 + 1}季度"
    due = f"{reminder.deadline:%Y年%m月%d日}"
    if reminder.is_overdue:
        late = (reminder.today - reminder.deadline).days
        title = f"【逾期提醒】{who} {period} {form}已逾期 {late} 天"
        lead = f"报送截止日期 {due} 已过 {late} 天，尚未收到通过校验的{form}。"
    else:
        left = (reminder.deadline - reminder.today).days
        title = f"【报送提醒】{who} {period} {form}将于 {left} 天后截止"
        lead = f"报送截止日期为 {due}（还有 {left} 天），尚未收到通过校验的{form}。"
    body = "\n".join([
        f"报送单位：{who}",
        f"统计期：{period}",
        lead,
        "请尽快按模板填报并上传；被退回的文件请按校验报告修改后重新上传。",
        "（本提醒每天最多发送一次，收到通过校验的文件后自动停止。）",
    ])
    return Message(kind=reminder.kind, reporter_code=reminder.reporter_code, upload_kind=reminder.upload_kind,
                   period=reminder.period, sent_on=reminder.today, title=title, body=body,
                   deadline_date=reminder.deadline)


def send_reminders(dsn: str, today: dt.date, notice_days: int | None = None,
                   reporter_urls: Mapping[str, Sequence[str]] | None = None,
                   governance_urls: Sequence[str] = ()) -> list[Reminder]:
    """Send today's reminders (each at most once a day); returns the reminders sent now. Raises
    UndeliveredError after trying them all when some could not be delivered (they stay unrecorded)."""
    notice = days_before() if notice_days is None else notice_days
    own = channels.configured_reporter_urls() if reporter_urls is None else reporter_urls
    sent, undelivered = [], []
    with warehouse.connect(dsn, role=roles.LOADER) as conn:  # reads ops.upload_log, writes ops.reminders_sent
        for reminder in due_reminders(conn, today, notice):
            urls = channels.urls_for(reminder.reporter_code, own, governance_urls)
            outcome = send_once(conn, reminder_message(reminder), urls)
            (sent if outcome == SENT else undelivered if outcome == UNDELIVERED else []).append(reminder)
    if undelivered:
        raise UndeliveredError(sent, undelivered)
    return sent

