"""Validate stage: a parsed upload and its context in, a `ValidationReport` out (one GX run per kind for many files).

    context   registry and last year's rows from the warehouse      (ValidationContext)
    enrich    derived columns the context rules look at             (frame)
    gx        the suite run over the frame; Data Docs of a result    (GX result)
    results   findings and per-rule outcomes of one file             (ValidationReport)
    rulebook  the suites in expectations/ as rules

`validate_many` validates many files in one GX run (frames concatenated with a `file_key`), which is what makes a
nightly run of hundreds of files fast.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from energystat.contract.uploads import REJECTED
from energystat.ingest.parse import ParsedUpload
from energystat.ingest.validate.context import ValidationContext
from energystat.ingest.validate.enrich import enrich_many
from energystat.ingest.validate.gx import failures_by_rule, run_gx
from energystat.ingest.validate.results import ValidationReport, finish

__all__ = ["ValidationReport", "validate", "validate_many"]


def validate_many(items: Sequence[tuple[ParsedUpload, ValidationContext]]) -> list[ValidationReport]:
    """Validate many parsed uploads with one GX run per upload kind; reports in the order of `items`."""
    reports: list[ValidationReport | None] = [None] * len(items)
    by_kind: dict[str, list[int]] = {}
    for i, (parsed, context) in enumerate(items):
        if not parsed.readable or parsed.kind is None:
            reports[i] = finish(parsed, context, None, {})
        else:
            by_kind.setdefault(parsed.kind, []).append(i)
    for kind, indexes in by_kind.items():
        combined = enrich_many([items[i] for i in indexes])
        result = run_gx(kind, combined)
        failures = failures_by_rule(result)
        starts = np.cumsum([0] + [items[i][0].frame.shape[0] for i in indexes])
        for file_key, i in enumerate(indexes):
            lo, hi = starts[file_key], starts[file_key + 1]
            mine = {rule: [p - lo for p in positions if lo <= p < hi] for rule, positions in failures.items()}
            mine = {rule: positions for rule, positions in mine.items() if positions}
            frame = combined.iloc[lo:hi].reset_index(drop=True)
            report = finish(items[i][0], items[i][1], frame, mine, result if len(indexes) == 1 else None)
            if report.gx_validation is None and report.status == REJECTED:
                # A rejected file gets a report with GX's own record of it: validate that file's frame alone.
                report.gx_validation = run_gx(kind, frame)
            reports[i] = report
    return [r for r in reports if r is not None]


def validate(parsed: ParsedUpload, context: ValidationContext) -> ValidationReport:
    """Validate one parsed upload (see `validate_many` to validate many files in one GX run)."""
    return validate_many([(parsed, context)])[0]
