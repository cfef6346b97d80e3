"""Sends a monitoring message at most once: it is recorded in ops.reminders_sent in the transaction that sends it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from energystat.ingest import alert as alerts

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


class UndeliveredError(RuntimeError):
    """Some messages could not be delivered (the others were); a retry sends only the undelivered ones."""

    def __init__(self, sent: list, undelivered: list) -> None:
        self.sent, self.undelivered = sent, undelivered
        super().__init__(f"{len(undelivered)} message(s) not delivered ({len(sent)} sent); they will be retried: "
                         + "; ".join(f"{m.reporter_code} {m.period}" for m in undelivered))


class _NotDelivered(Exception):
    pass


SENT, ALREADY_SENT, UNDELIVERED = "sent", "already_sent", "undelivered"


def send_once(conn: psycopg.Connection, message: Message, urls: Sequence[str]) -> str:
    """Record and send `message`: SENT; ALREADY_SENT (nothing sent); or UNDELIVERED, in which case the record
    is rolled back so that a retry or the next run tries again."""
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
                return ALREADY_SENT
            if not alerts.send(message.title, message.body, urls):
                raise _NotDelivered
    except _NotDelivered:
        log.error("not delivered, will be retried: %s", message.title)
        return UNDELIVERED
    return SENT
