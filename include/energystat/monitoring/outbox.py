"""Sends a monitoring message at most once: it is recorded in ops.reminders_sent in the transaction that sends it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from energystat import alerts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One message; (kind, reporter, upload kind, period, day) identifies it in ops.reminders_sent."""

    kind: str  # deadline_before / deadline_overdue / early_warning / early_warning_summary
    reporter_code: str
    upload_kind: str
    period: str
    sent_on: dt.date
    title: str
    body: str
    deadline_date: dt.date | None = None


class _NotDelivered(Exception):
    pass


def send_once(conn: psycopg.Connection, message: Message, urls: Sequence[str]) -> bool:
    """Record and send `message`; False (nothing sent) when it was already sent — or not delivered, in which
    case the record is rolled back so that the next run tries again."""
    try:
        with conn.transaction():
            claimed = conn.execute(
                "insert into ops.reminders_sent (message_kind, reporter_code, upload_kind, period, sent_on,"
                " deadline_date, title, channels) values (%s, %s, %s, %s, %s, %s, %s, %s)"
                " on conflict do nothing returning reminder_id",
                (message.kind, message.reporter_code, message.upload_kind, message.period, message.sent_on,
                 message.deadline_date, message.title, len(urls)),
            ).fetchone()
            if claimed is None:
                return False
            if not alerts.send(message.title, message.body, urls):
                raise _NotDelivered
    except _NotDelivered:
        log.error("not delivered, will be retried: %s", message.title)
        return False
    return True
