"""Upload kinds, statuses and the landing-path pattern `<reporter>/<YYYY-MM>/<file>`; the raw tables they load.

The migrations and dbt spell the same kinds and statuses in SQL (`V001__schemas_and_ops.sql`,
`stg_upload_log.sql`, `_sources.yml`, `_staging.yml`): tests/test_contract.py fails when they and this module
disagree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePath

from energystat.contract.findings import REVIEWABLE_RULES
from energystat.contract.forms import MONTHLY_SHEET, REGISTRY_COLUMNS, REGISTRY_FILE, TASK_SHEET

MONTHLY = "monthly"
TASK_PROGRESS = "task_progress"
REGISTRY = "registry"
UNKNOWN = "unknown"
#: The kinds validated by a rule suite (the registry is checked while it loads).
FORM_KINDS = (MONTHLY, TASK_PROGRESS)
#: Every kind ops.upload_log accepts.
KINDS = (MONTHLY, TASK_PROGRESS, REGISTRY, UNKNOWN)

ACCEPTED = "accepted"
ACCEPTED_WITH_WARNINGS = "accepted_with_warnings"
REJECTED = "rejected"
#: Rejected, but every error is reviewable (a correction guard, a history rule): held for the review loop, which
#: may approve it (then it loads) or return it (then it is `rejected`); never applied silently.
HELD = "held"
DUPLICATE = "duplicate"
SUPERSEDED = "superseded"
PROCESSING = "processing"
#: Every status of ops.upload_log, in the order of the table's check constraint.
STATUSES = (PROCESSING, ACCEPTED, ACCEPTED_WITH_WARNINGS, REJECTED, HELD, SUPERSEDED, DUPLICATE)
#: Uploads whose rows count: the marts, the history rules and supersession read only these.
LIVE_STATUSES = (ACCEPTED, ACCEPTED_WITH_WARNINGS)
#: Statuses a run reports on, in the order `energystat ingest` prints them.
RUN_STATUSES = (ACCEPTED, ACCEPTED_WITH_WARNINGS, REJECTED, HELD, DUPLICATE)
#: Statuses of a file that was not loaded because of its errors (quarantined, reported, alerted).
NOT_LOADED_STATUSES = (REJECTED, HELD)


def rejection_status(error_rule_ids: Iterable[str]) -> str:
    """`held` when the file has errors and every one is reviewable (REVIEWABLE_RULES), else `rejected`."""
    rules = set(error_rule_ids)
    return HELD if rules and rules <= REVIEWABLE_RULES else REJECTED

#: The reporter code of the whole region (全区) in seeds and marts; never a landing folder.
WHOLE_REGION = "GX"

#: Landing folders: `<reporter>/<YYYY-MM>/<file>`; the registry export sits at the landing root.
REPORTER_DIR = re.compile(r"^\d{6}$")
PERIOD_DIR = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
#: Suffixes a clerk may upload (README, "What happens when…"): everything else is refused unread (P003).
UPLOAD_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".csv"})
#: A file-name marker of each form kind (the templates name their files so).
KIND_MARKERS = {MONTHLY_SHEET: MONTHLY, TASK_SHEET: TASK_PROGRESS}

RAW_TABLES = {MONTHLY: "raw.monthly_statistics", TASK_PROGRESS: "raw.task_progress",
              REGISTRY: "raw.institution_registry"}
#: Columns each kind's COPY writes, in table order (the parsed frame's columns plus what the landing path gives).
RAW_COLUMNS = {
    MONTHLY: [
        "upload_id", "source_row", "reporter_code", "period_month", "credit_code", "institution_name",
        "institution_kind", "headcount", "floor_area_m2", "electricity_kwh", "water_t", "natural_gas_m3",
        "lpg_kg", "coal_kg", "gasoline_l", "diesel_l", "heat_gj", "pv_kwh",
    ],
    TASK_PROGRESS: [
        "upload_id", "source_row", "reporter_code", "period_quarter", "year", "quarter", "task_code",
        "project_name", "credit_code", "admin_level", "institution_kind", "quantity", "unit", "note",
    ],
    REGISTRY: [*REGISTRY_COLUMNS, "upload_id"],
}


def kind_of(file_name: str) -> str:
    """The upload kind from the file name; `unknown` otherwise (the parser may still recognise the headers)."""
    if file_name == REGISTRY_FILE:
        return REGISTRY
    for marker, kind in KIND_MARKERS.items():
        if marker in file_name:
            return kind
    return UNKNOWN


def reporter_and_period(path: PurePath) -> tuple[str | None, str | None]:
    """(`450100`, `2024-03`) when the file sits in `<reporter>/<YYYY-MM>/`, else (None, None)."""
    parts = path.parts
    if len(parts) >= 3 and REPORTER_DIR.match(parts[-3]) and PERIOD_DIR.match(parts[-2]):
        return parts[-3], parts[-2]
    return None, None

#: A reporter's explanation (说明) of an upload: a text file beside it named `<file>.说明.txt` (never an upload).
EXPLANATION_SUFFIX = ".说明.txt"
