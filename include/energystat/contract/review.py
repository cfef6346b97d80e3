"""The review loop's vocabulary: the reviewer's options, the decisions they record, the reminder setting.

Light on purpose: the `review_exceptions` DAG reads it at parse time.
"""

from __future__ import annotations

import os

APPROVE = "同意入库"
RETURN = "退回"
REQUEST_MORE = "要求补充说明"
#: Reviewer's option → ops.review_decisions.decision (V006 spells the same three values).
DECISIONS = {APPROVE: "approved", RETURN: "returned", REQUEST_MORE: "more_requested"}
OPTIONS = list(DECISIONS)


def reminder_days() -> float:
    """Days a review may stay unanswered before the governance channel is told again
    (`ENERGYSTAT_REVIEW_REMINDER_DAYS`, default 3)."""
    return float(os.environ.get("ENERGYSTAT_REVIEW_REMINDER_DAYS", "3"))
