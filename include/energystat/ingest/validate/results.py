"""The result of validating one upload: per-rule outcomes, findings worded from the suite's templates, status."""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

import pandas as pd

from energystat import config
from energystat.contract.findings import (
    COMPLETENESS,
    CORRECTION_GUARD,
    ERROR,
    MISSING_COLUMNS,
    MUST_BE_GIVEN,
    NOT_A_NUMBER,
    WARNING,
    Finding,
)
from energystat.contract.forms import CONSUMPTION_COLUMNS
from energystat.contract.uploads import ACCEPTED, ACCEPTED_WITH_WARNINGS, MONTHLY, REJECTED, rejection_status
from energystat.ingest.guard import holds, summarize
from energystat.ingest.parse import ParsedUpload
from energystat.ingest.validate.context import ValidationContext, valid_period
from energystat.ingest.validate.rulebook import Rule, rule_descriptions, rulebook

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult

REQUIREMENT_REASONS = {
    "registry": ("无法连接数据仓库或公共机构名录为空，未检查", "warehouse not reachable or registry empty: not checked"),
    "history": ("无法连接数据仓库，未与去年同月比较", "warehouse not reachable: not compared with last year"),
    "folder_period": ("未给出上报月份，未检查", "no folder period given: not checked"),
}


@dataclass
class RuleOutcome:
    rule_id: str
    severity: str
    description_zh: str
    description_en: str
    failed_rows: list[int] = field(default_factory=list)  # rows as in the file (header = 1)
    failed: int = 0  # findings (file-level ones count once)
    skipped: bool = False
    skip_reason_zh: str | None = None
    skip_reason_en: str | None = None

    @property
    def passed(self) -> bool:
        return self.failed == 0


@dataclass
class ValidationReport:
    """The validation of one upload: what the report stage writes, the load stage stores and `check` prints."""

    status: str  # accepted | accepted_with_warnings | rejected (what the log records: logged_status)
    kind: str | None
    rows: int
    findings: list[Finding]
    outcomes: dict[str, RuleOutcome]
    unreadable: bool = False
    #: GX's own result for this file alone (a single-file validation, or a rejected file of a many-file run).
    gx_validation: ExpectationSuiteValidationResult | None = field(default=None, repr=False)

    @property
    def gx_result(self) -> dict[str, Any] | None:
        """GX's result of this file as JSON."""
        return None if self.gx_validation is None else self.gx_validation.to_json_dict()

    @property
    def rule_summary(self) -> dict[str, dict[str, Any]]:
        """{rule_id: {severity, failed}} of the rules with findings (the shape of ops.upload_log.rule_summary)."""
        return {r: {"severity": o.severity, "failed": o.failed} for r, o in self.outcomes.items() if o.failed}

    @property
    def logged_status(self) -> str:
        """The status the upload log records for this file: a rejection whose every error is reviewable is `held`
        (contract.uploads.rejection_status: loads nothing, a reviewer decides), anything else its `status`."""
        if self.status != REJECTED:
            return self.status
        return rejection_status(f.rule_id for f in self.findings if f.severity == ERROR)

    @property
    def error_count(self) -> int:
        return sum(1 for f in self.findings if f.severity == ERROR)

    @property
    def warning_count(self) -> int:
        return sum(1 for f in self.findings if f.severity == WARNING)

    @property
    def skipped_rules(self) -> list[str]:
        return [r for r, o in self.outcomes.items() if o.skipped]


def clerk_number(value: float | int) -> str:
    """A number as a clerk reads it: thousands separators and at most two decimals, rounded half up, trailing
    zeros dropped (1234.5678901 -> "1,234.57", 0.30000000000000004 -> "0.3", 15000.0 -> "15,000"); a value that
    would round to 0 keeps three significant digits (0.00423 -> "0.00423"). Never scientific notation."""
    number = Decimal(repr(float(value)))
    digits = 2
    if number and abs(number) < Decimal("0.005"):
        digits = 2 - number.adjusted()
    text = f"{number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP):,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _LenientFormatter(string.Formatter):
    """Formats finding templates with row values; a missing or unformattable value prints as-is or blank.

    The format spec `num` writes a number with `clerk_number` (the suites use it for intensities, last year's
    values and ratios: `{energy_per_capita:num}`)."""

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        return kwargs.get(key)

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "（空）" if not format_spec else "-"
        if format_spec == "num":
            return clerk_number(value) if _is_number(value) else str(value)
        try:
            return format(value, format_spec)
        except (ValueError, TypeError):
            return str(value)


_FORMATTER = _LenientFormatter()


@cache
def _template_fields(template: str) -> tuple[str, ...]:
    return tuple(f for _, f, _, _ in _FORMATTER.parse(template) if f and f not in ("header", "value"))


def display_value(value: Any) -> str | None:
    """A cell value as the user wrote it: 15000.0 -> "15000", NaN -> None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _findings_for(rule: Rule, frame: pd.DataFrame, positions: list[int], parsed: ParsedUpload) -> list[Finding]:
    column = rule.column
    header = parsed.column_header(column) if column else ""
    templates = (rule.meta.get("finding_zh", rule.description_zh), rule.meta.get("finding_en", rule.description_en))
    fields = sorted({f for t in templates for f in _template_fields(t)} & set(frame.columns))
    observed_col = rule.observed if rule.observed in frame.columns else None
    prior_col = rule.meta.get("prior") if rule.meta.get("prior") in frame.columns else None
    observed_name = rule.meta.get("observed_zh") if observed_col and observed_col != column else None
    file_scope = rule.meta.get("scope") == "file"
    if file_scope:
        positions = positions[:1]
    values = frame.iloc[positions][fields].to_dict("records") if fields else [{} for _ in positions]
    observed = frame.iloc[positions][observed_col].tolist() if observed_col else [None] * len(positions)
    rows = frame.iloc[positions]["source_row"].tolist()
    codes = frame.iloc[positions]["credit_code"].tolist() if "credit_code" in frame else [None] * len(positions)
    priors = frame.iloc[positions][prior_col].tolist() if prior_col else [None] * len(positions)
    out = []
    for row_values, value, source_row, code, prior in zip(values, observed, rows, codes, priors, strict=True):
        shown = display_value(value)
        in_text = clerk_number(value) if _is_number(value) else shown  # a number in a sentence reads as a clerk's
        row_values.update(header=header, value=in_text if in_text is not None else "（空）")
        out.append(Finding(
            rule.rule_id, rule.severity,
            _FORMATTER.vformat(templates[0], (), row_values), _FORMATTER.vformat(templates[1], (), row_values),
            source_row=None if file_scope else int(source_row), credit_code=None if file_scope else code,
            column_name=column, observed_value=shown, prior_value=display_value(prior), observed_name=observed_name))
    return out


def finish(parsed: ParsedUpload, context: ValidationContext, frame: pd.DataFrame | None,
           failures: dict[int, list[int]],
           gx_validation: ExpectationSuiteValidationResult | None = None) -> ValidationReport:
    """Build the report of one file from its parser findings and its failing positions per rule index."""
    kind = parsed.kind or MONTHLY
    rules = rulebook(kind)
    outcomes = {r: RuleOutcome(r, d["severity"], d["description_zh"], d["description_en"])
                for r, d in rule_descriptions(kind).items()}
    findings = list(parsed.findings)
    missing_columns = {c for f in parsed.findings if f.rule_id in MISSING_COLUMNS.values() and f.column_name
                       for c in f.column_name.split(",")}
    available = context.available
    if frame is not None:
        for index, rule in enumerate(rules):
            requires = rule.meta.get("requires")
            if requires and requires not in available:
                outcome = outcomes[rule.rule_id]
                outcome.skipped = True
                reason = REQUIREMENT_REASONS[requires]
                if context.unavailable_reason and requires != "folder_period":
                    reason = (reason[0] + f"（{context.unavailable_reason}）", reason[1] + f" ({context.unavailable_reason})")
                outcome.skip_reason_zh, outcome.skip_reason_en = reason
                continue
            if rule.column in missing_columns or index not in failures:
                continue
            findings.extend(_findings_for(rule, frame, failures[index], parsed))
    if parsed.readable and parsed.kind:
        findings.extend(_whole_file_findings(parsed, context))
    findings = _without_echoes(findings)
    for finding in findings:
        outcome = outcomes.setdefault(finding.rule_id, RuleOutcome(finding.rule_id, finding.severity, "", ""))
        outcome.failed += 1
        if finding.source_row is not None:
            outcome.failed_rows.append(finding.source_row)
    for outcome in outcomes.values():
        outcome.failed_rows = sorted(set(outcome.failed_rows))
    findings.sort(key=lambda f: (f.source_row or 0, f.rule_id, f.column_name or ""))
    if any(f.severity == ERROR for f in findings):
        status = REJECTED
    elif findings:
        status = ACCEPTED_WITH_WARNINGS
    else:
        status = ACCEPTED
    return ValidationReport(status, parsed.kind, parsed.rows, findings, outcomes, unreadable=not parsed.readable,
                            gx_validation=gx_validation)


def _whole_file_findings(parsed: ParsedUpload, context: ValidationContext) -> list[Finding]:
    """Rules judging the file as a whole against the warehouse: the correction guard (M017 / T009, reviewable)
    against the live batch the file would replace, and completeness (M014) of a file without rows (the suite's
    M014 looks at rows, so a file of 0 rows would otherwise pass it)."""
    settings = config.settings()
    frame = parsed.frame
    out = []
    live = context.live_batches.get(parsed.kind or "")
    if live is not None:
        if parsed.kind == MONTHLY:
            columns = [c for c in CONSUMPTION_COLUMNS if c in frame]
            new = summarize(frame.get("credit_code", ()), len(frame),
                            {c: float(frame[c].sum()) for c in columns})
        else:
            new = summarize((), len(frame), {"quantity": float(frame["quantity"].sum()) if "quantity" in frame
                                             else 0.0})
        labels = {c: parsed.column_header(c) for c in live.totals}
        out += [Finding(CORRECTION_GUARD[parsed.kind or MONTHLY], ERROR, h.zh, h.en, observed_value=h.observed)
                for h in holds(new, live, settings.correction_max_removed_share, settings.correction_max_factor,
                               labels)]
    if (parsed.kind == MONTHLY and parsed.rows == 0 and "registry" in context.available
            and valid_period(context.period)):
        active = len(context.registry_lookup().active_of_reporter(context.period or "", context.reporter_code))
        if active:
            out.append(Finding(COMPLETENESS, WARNING, f"本期报送了名录中 0 / {active} 家在用单位（0%），低于 95%",
                               f"0 of {active} active registered institutions reported (0 %), below 95 %",
                               observed_value="0"))
    return out


def _without_echoes(findings: list[Finding]) -> list[Finding]:
    """Drop the "must be given" finding of a cell already reported as "not a number" (the same mistake twice)."""
    not_numbers = {(f.source_row, f.column_name) for f in findings if f.rule_id in NOT_A_NUMBER.values()
                   and f.observed_value is not None}
    return [f for f in findings if not (f.observed_value is None and f.rule_id in MUST_BE_GIVEN
                                        and (f.source_row, f.column_name) in not_numbers)]
