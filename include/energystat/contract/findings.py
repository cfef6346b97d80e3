"""The `Finding` record (one row of ops.dq_findings) and the rule ids the code itself refers to.

Every other rule id lives in the expectation suites (`expectations/*.json`); the ones below are raised by the
parser or handled specially, and tests/test_contract.py checks each is described in a suite.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"

#: File unreadable (either kind).
UNREADABLE = "P001"
#: The file has no data rows (either kind): a headers-only file never replaces live data.
NO_DATA_ROWS = "P002"
#: A landing entry not read: a link, a special file, an unsupported suffix, a malformed or future period folder.
LANDING_ENTRY = "P003"
#: Formula cells without a calculated value (either kind).
FORMULA_WITHOUT_VALUE = "P004"
#: The correction guard, per kind: an error marked reviewable in the suite (held for review, never applied).
CORRECTION_GUARD = {"monthly": "M017", "task_progress": "T009"}
#: Reporter completeness, judged on the whole file (a file of 0 rows too).
COMPLETENESS = "M014"
#: The registry export's own checks (it has no suite): rows loadable, and its correction guard (reviewable).
REGISTRY_ROWS = "R001"
REGISTRY_GUARD = "R002"
#: Required columns missing or a unit not understood, per kind.
MISSING_COLUMNS = {"monthly": "M001", "task_progress": "T001"}
#: The 合计 row does not equal its column's sum (monthly form).
TOTAL_ROW_MISMATCH = "M015"
#: "Not a number" (the finding that makes a "must be given" finding of the same cell an echo), per kind.
NOT_A_NUMBER = {"monthly": "M002", "task_progress": "T002"}
#: "Must be given" rules whose finding is dropped when the same cell was already reported as not a number.
MUST_BE_GIVEN = ("M007", "T002")

#: Rules whose errors a governance reviewer may override (issue 15): what can be true and explained — the
#: plausibility range (M010), the size change (M011), the unit slip ×≥5/÷≥5 (M012) and the correction guards
#: (M017, T009, R002). Every other rule (unreadable file, missing columns, non-numbers, bad credit codes,
#: negative values, wrong period, wrong reporter) is never reviewable. The suites mark each rule
#: `reviewable: true|false` in its meta; tests/test_contract.py checks they agree with this set.
REVIEWABLE_RULES = frozenset({"M010", "M011", "M012", "M017", "T009", "R002"})

#: Columns of ops.dq_findings after upload_id, in table order.
FINDING_COLUMNS = ("source_row", "credit_code", "column_name", "rule_id", "severity", "message_zh", "message_en",
                   "observed_value")
#: A finding's fields in the report's JSON: the table's columns, then what the report shows beside them
#: (`prior_value`: the same month last year's value of a history rule, M011 / M012).
REPORT_FIELDS = (*FINDING_COLUMNS, "prior_value", "observed_name")


@dataclass
class Finding:
    """One rule finding; the shape of a row of ops.dq_findings (without upload_id)."""

    rule_id: str
    severity: str
    message_zh: str
    message_en: str
    source_row: int | None = None
    credit_code: str | None = None
    column_name: str | None = None
    observed_value: str | None = None
    #: Last year's value of the same institution, month and column, for a history rule (the suite's `prior`).
    prior_value: str | None = None
    #: What observed_value is when the rule computed it rather than read the cell (e.g. 人均综合能耗（计算值）,
    #: for a rule that marks the headcount cell): the report names it, so a clerk does not take it for the cell.
    observed_name: str | None = None

    def as_dict(self) -> dict[str, str | int | None]:
        """The finding keyed by ops.dq_findings column, in table order."""
        values = asdict(self)
        return {column: values[column] for column in FINDING_COLUMNS}

    def as_report_dict(self) -> dict[str, str | int | None]:
        """The finding as the report's JSON gives it: `as_dict` plus `prior_value`."""
        values = asdict(self)
        return {field: values[field] for field in REPORT_FIELDS}
