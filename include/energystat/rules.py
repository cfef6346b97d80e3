"""The data-governance rulebook: Great Expectations suites in `expectations/`, applied to parsed uploads.

The suites (one per upload kind) are the rulebook; this module only prepares what they look at. Rules that
need context — the folder's period and reporter, the institution registry, last year's accepted rows — are
expressed on derived columns (`credit_code_valid`, `in_registry`, `electricity_kwh_ratio_vs_last_year`…) that
`enrich` adds to the parsed frame from a `ValidationContext`, so every rule is a plain GX expectation.

GX is imported inside functions (importing it costs ~14 s) and one ephemeral GX context is built per process.
`validate_many` validates many files in one GX run (frames concatenated with a `file_key`), which is what makes
a nightly run of hundreds of files fast.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from energystat import config, creditcode, reference
from energystat.parsing import MONTHLY, TASK_PROGRESS, Finding, ParsedUpload

log = logging.getLogger(__name__)

SUITE_FILES = {MONTHLY: "monthly_statistics.json", TASK_PROGRESS: "task_progress.json"}
LIVE_STATUSES = ("accepted", "accepted_with_warnings")
#: Consumption columns compared with the same month last year (M012).
CONSUMPTION_COLUMNS = ("electricity_kwh", "water_t", "natural_gas_m3", "lpg_kg", "coal_kg", "gasoline_l",
                       "diesel_l", "heat_gj")
SIZE_COLUMNS = ("headcount", "floor_area_m2")
INTENSITIES = {  # indicator -> (numerator, denominator); numerator "energy" is the standard-coal total
    "energy_per_capita": ("energy", "headcount"),
    "energy_per_m2": ("energy", "floor_area_m2"),
    "water_per_capita": ("water_t", "headcount"),
}

REQUIREMENT_REASONS = {
    "registry": ("无法连接数据仓库或公共机构名录为空，未检查", "warehouse not reachable or registry empty: not checked"),
    "history": ("无法连接数据仓库，未与去年同月比较", "warehouse not reachable: not compared with last year"),
    "folder_period": ("未给出上报月份，未检查", "no folder period given: not checked"),
}


# ---------------------------------------------------------------------------------------------------- suites

@dataclass(frozen=True)
class Rule:
    """One expectation of a suite, as the rulebook shows it."""

    rule_id: str
    severity: str
    description_zh: str
    description_en: str
    expectation_type: str | None  # None for the rules checked while reading the file (P001, M001, M015, T001)
    kwargs: dict[str, Any]
    meta: dict[str, Any]

    @property
    def column(self) -> str | None:
        """The raw column a finding points at (for column_name and the highlighted cell)."""
        return self.meta.get("column", self.kwargs.get("column") or self.kwargs.get("column_A"))

    @property
    def observed(self) -> str | None:
        return self.meta.get("observed", self.kwargs.get("column") or self.kwargs.get("column_A"))


def suites_dir() -> Path:
    return config.EXPECTATIONS_DIR


@cache
def load_suites() -> dict[str, dict[str, Any]]:
    """The suites as JSON documents, by upload kind (`monthly`, `task_progress`)."""
    suites = {}
    for kind, name in SUITE_FILES.items():
        with (suites_dir() / name).open(encoding="utf-8") as f:
            suites[kind] = json.load(f)
    return suites


@cache
def rulebook(kind: str) -> tuple[Rule, ...]:
    """The rules of one upload kind: the file rules first, then every expectation in suite order."""
    suite = load_suites()[kind]
    rules = [Rule(r["rule_id"], r["severity"], r["description_zh"], r["description_en"], None, {}, r)
             for r in suite["meta"].get("file_rules", [])]
    for exp in suite["expectations"]:
        meta = exp["meta"]
        rules.append(Rule(meta["rule_id"], meta["severity"], meta["description_zh"], meta["description_en"],
                          exp["type"], exp["kwargs"], meta))
    return tuple(rules)


@cache
def rule_descriptions(kind: str) -> dict[str, dict[str, str]]:
    """rule_id -> {rule_id, severity, description_zh, description_en} of a suite (file rules and meta.rules),
    in rule-id order with P001 last."""
    meta = load_suites()[kind]["meta"]
    rows = {r["rule_id"]: r for r in [*meta.get("file_rules", []), *meta.get("rules", [])]}
    return {r: rows[r] for r in sorted(rows, key=lambda r: (r.startswith("P"), r))}


def rule_table() -> list[dict[str, str]]:
    """One row per rule id (kind, id, severity, Chinese and English description, expectation count)."""
    rows: list[dict[str, str]] = []
    for kind in SUITE_FILES:
        counts: dict[str, int] = {}
        for rule in rulebook(kind):
            counts[rule.rule_id] = counts.get(rule.rule_id, 0) + (1 if rule.expectation_type else 0)
        for rule_id, row in rule_descriptions(kind).items():
            rows.append({"kind": kind, "rule_id": rule_id, "severity": row["severity"],
                         "description_zh": row["description_zh"], "description_en": row["description_en"],
                         "expectations": str(counts.get(rule_id, 0))})
    return rows


# ---------------------------------------------------------------------------------------------------- context

class RegistryLookup:
    """The registry indexed by credit code, and its active institutions per month and reporter.

    Building these costs a pass over the whole registry; a night's files share one registry, so the contexts of
    one `load_contexts` call share one lookup instead of each file paying for it.
    """

    def __init__(self, registry: pd.DataFrame) -> None:
        self.registry = registry
        self.by_code = registry.drop_duplicates("credit_code").set_index("credit_code")
        self._active: dict[str, pd.Series] = {}
        self._mine: dict[tuple[str, str | None], pd.Series] = {}

    def is_active(self, period: str) -> pd.Series:
        """Registry mask: active at some time in the month."""
        if period not in self._active:
            start = _month_start(period)
            end = (pd.Timestamp(start) + pd.offsets.MonthEnd(0)).date()
            registry = self.registry
            self._active[period] = (registry["active_from"] <= end) & (registry["active_to"].isna()
                                                                      | (registry["active_to"] >= start))
        return self._active[period]

    def active_codes(self, period: str) -> pd.Index:
        return pd.Index(self.registry.loc[self.is_active(period), "credit_code"])

    def active_of_reporter(self, period: str, reporter: str | None) -> pd.Series:
        """Credit codes of the reporter's institutions active in the month."""
        if (period, reporter) not in self._mine:
            registry = self.registry
            self._mine[(period, reporter)] = registry.loc[self.is_active(period)
                                                          & (registry["reporter_code"] == reporter), "credit_code"]
        return self._mine[(period, reporter)]


@dataclass
class ValidationContext:
    """What the context rules compare an upload with. `registry` / `last_year` None = not available (skipped)."""

    reporter_code: str | None
    period: str | None  # the folder's period, YYYY-MM
    registry: pd.DataFrame | None = None  # raw.institution_registry rows (all reporters)
    last_year: pd.DataFrame | None = None  # live rows of the same reporter, same month last year
    unavailable_reason: str | None = None  # why registry/history are missing (warehouse unreachable…)
    lookup: RegistryLookup | None = field(default=None, repr=False)  # shared by the contexts of one load

    def registry_lookup(self) -> RegistryLookup:
        """Indexes of `registry`, built once and shared by every context `load_contexts` returned together."""
        if self.lookup is None or self.lookup.registry is not self.registry:
            self.lookup = RegistryLookup(self.registry)
        return self.lookup

    @property
    def available(self) -> set[str]:
        out = set()
        if self.period:
            out.add("folder_period")
        if self.registry is not None and len(self.registry):
            out.add("registry")
        if self.last_year is not None:
            out.add("history")
        return out


def _month_start(period: str) -> dt.date:
    year, month = (int(p) for p in period.split("-")[:2])
    return dt.date(year, month, 1)


def _valid_period(period: str | None) -> bool:
    try:
        _month_start(period or "")
    except ValueError:
        return False
    return True


def load_contexts(conn_or_dsn: Any, keys: Sequence[tuple[str | None, str | None]]) -> dict[tuple, ValidationContext]:
    """Contexts for many (reporter_code, period) pairs with one registry read and one history query."""
    from energystat import roles, warehouse

    if isinstance(conn_or_dsn, str):
        with warehouse.connect(conn_or_dsn, role=roles.LOADER) as conn:  # validation is the loader's job
            return load_contexts(conn, keys)
    conn = conn_or_dsn
    registry = pd.DataFrame(
        conn.execute(
            "select credit_code, institution_name, reporter_code, institution_subkind, active_from, active_to "
            "from raw.institution_registry"
        ).fetchall(),
        columns=["credit_code", "institution_name", "reporter_code", "institution_subkind", "active_from",
                 "active_to"],
    )
    registry["credit_code"] = registry["credit_code"].str.strip()
    wanted = sorted({(r, _month_start(p).replace(year=_month_start(p).year - 1))
                     for r, p in keys if r and _valid_period(p)})
    columns = ["reporter_code", "period_month", "credit_code", *SIZE_COLUMNS, *CONSUMPTION_COLUMNS]
    history = pd.DataFrame(columns=columns)
    if wanted:
        rows = conn.execute(
            # float8 in SQL: numeric columns would arrive as Decimal objects, slow to build and to convert.
            f"select m.reporter_code, m.period_month, m.credit_code, "
            f"{', '.join(f'm.{c}::float8' for c in columns[3:])} "
            "from raw.monthly_statistics m join ops.upload_log u on u.upload_id = m.upload_id "
            "where u.status = any(%s) and (m.reporter_code, m.period_month) in "
            "(select * from unnest(%s::text[], %s::date[]))",
            (list(LIVE_STATUSES), [r for r, _ in wanted], [m for _, m in wanted]),
        ).fetchall()
        history = pd.DataFrame(rows, columns=columns)
        for column in columns[3:]:
            history[column] = pd.to_numeric(history[column], errors="coerce").astype("float64")
    contexts = {}
    lookup = RegistryLookup(registry)
    # Split once (filtering the whole history per key cost seconds per file at province scale).
    by_key = {key: part for key, part in history.groupby(["reporter_code", "period_month"], sort=False)}
    empty = history.iloc[0:0]
    for reporter, period in keys:
        last_year = None
        if reporter and _valid_period(period):
            month = _month_start(period)
            last_year = by_key.get((reporter, month.replace(year=month.year - 1)), empty)
        contexts[(reporter, period)] = ValidationContext(reporter, period, registry, last_year, lookup=lookup)
    return contexts


def load_context(conn_or_dsn: Any, reporter_code: str | None, period: str | None) -> ValidationContext:
    """The context of one upload from the warehouse: the registry and last year's live rows of the reporter."""
    return load_contexts(conn_or_dsn, [(reporter_code, period)])[(reporter_code, period)]


def context_without_warehouse(reporter_code: str | None, period: str | None, reason: str) -> ValidationContext:
    """A context for when no warehouse is reachable: registry and history rules are reported as skipped."""
    return ValidationContext(reporter_code, period, unavailable_reason=reason)


# ---------------------------------------------------------------------------------------------------- enrich

def _quarter_of(period: str | None) -> str | None:
    if not _valid_period(period):
        return None
    month = _month_start(period or "")
    return f"{month.year}-Q{(month.month - 1) // 3 + 1}"


#: The same institutions report every month: remember each code's check (a pure function of the code).
_code_is_valid = lru_cache(maxsize=1 << 18)(creditcode.is_valid)


def _valid_codes(codes: pd.Series, missing_is_valid: bool) -> pd.Series:
    """True/False per credit code; a missing code is False, or None (not checked) when codes are optional."""
    valid = {c: _code_is_valid(c) for c in codes.dropna().unique()}
    missing = None if missing_is_valid else False
    return pd.Series([valid.get(c, missing) if isinstance(c, str) else missing for c in codes],
                     index=codes.index, dtype="object")


def enrich(parsed: ParsedUpload, context: ValidationContext) -> pd.DataFrame:
    """The parsed frame plus the derived columns the suite's context rules look at (null = not applicable)."""
    frame = parsed.frame.copy()
    if parsed.kind == TASK_PROGRESS:
        return _enrich_task(frame, context)
    return _enrich_monthly(frame, context)


def _enrich_task(frame: pd.DataFrame, context: ValidationContext) -> pd.DataFrame:
    kinds = {k.category_zh: k for k in reference.task_kinds().values()}
    frame["folder_quarter"] = _quarter_of(context.period)
    frame["expected_unit"] = frame["task_category"].map(lambda c: kinds[c].unit_zh if c in kinds else None)
    frame["credit_code_valid"] = _valid_codes(frame["credit_code"], missing_is_valid=True)
    return frame


def _enrich_monthly(frame: pd.DataFrame, context: ValidationContext) -> pd.DataFrame:
    available = context.available
    n = len(frame)
    frame["folder_period"] = context.period if "folder_period" in available else None
    frame["folder_reporter"] = context.reporter_code
    frame["credit_code_valid"] = _valid_codes(frame["credit_code"], missing_is_valid=False)

    # Registry: known institution, its reporter, kind and whether it is active this month.
    registry = context.registry if "registry" in available else None
    kind_for_range = frame["institution_kind"].copy()
    active = pd.Series([None] * n, index=frame.index, dtype="object")
    frame["in_registry"] = None
    frame["registry_reporter_code"] = None
    for name in ("registered_active", "registered_present", "registered_missing", "reporter_completeness"):
        frame[name] = None
    if registry is not None:
        lookup = context.registry_lookup()
        by_code = lookup.by_code
        known = frame["credit_code"].isin(by_code.index)
        frame["in_registry"] = known.astype(object)
        frame["registry_reporter_code"] = frame["credit_code"].map(by_code["reporter_code"])
        kind_for_range = frame["credit_code"].map(by_code["institution_subkind"]).fillna(kind_for_range)
        if _valid_period(context.period):
            period = context.period or ""
            active = frame["credit_code"].isin(lookup.active_codes(period)).astype(object)
            mine = lookup.active_of_reporter(period, context.reporter_code)
            present = set(frame["credit_code"].dropna())
            missing = sorted(set(mine) - present)
            if len(mine):
                frame["registered_active"] = len(mine)
                frame["registered_present"] = len(mine) - len(missing)
                frame["registered_missing"] = "、".join(missing[:20]) + (" …" if len(missing) > 20 else "")
                frame["reporter_completeness"] = round((len(mine) - len(missing)) / len(mine), 6)

    # Intensities by kind (M010): standard coal from the reference coefficients.
    kgce = reference.kgce_per_raw_unit()
    energy = sum(frame[c].fillna(0.0) * k for c, k in kgce.items() if c in frame)
    frame["energy_kgce"] = energy
    frame["kind_for_range"] = kind_for_range
    ranges = reference.intensity_ranges()
    for indicator, (numerator, denominator) in INTENSITIES.items():
        # Zero energy is M013's finding and a negative value M006's, not an implausible intensity.
        top = energy if numerator == "energy" else frame[numerator]
        top = top.where(top > 0)
        bottom = frame[denominator].where(frame[denominator] > 0)
        frame[indicator] = (top / bottom).astype("float64")
        for side, bound in (("_low", 0), ("_high", 1)):
            by_kind = {k: limits[bound] for (k, ind), limits in ranges.items() if ind == indicator}
            frame[indicator + side] = kind_for_range.map(by_kind).astype("float64")

    # Zero energy for an active institution (M013): energy total of active registered rows, null otherwise.
    frame["energy_use_of_active_institution"] = energy.where(active.eq(True)).astype("float64")

    # History (M011, M012): the same month last year, per institution.
    last = context.last_year if "history" in available else None
    previous = (last.drop_duplicates("credit_code").set_index("credit_code")
                if last is not None and len(last) else None)
    for column in SIZE_COLUMNS + CONSUMPTION_COLUMNS:
        before = (frame["credit_code"].map(previous[column]).astype("float64") if previous is not None
                  else pd.Series(np.nan, index=frame.index))
        frame[column + "_last_year"] = before
        now = frame[column]
        if column in SIZE_COLUMNS:
            change = (now / before.where(before > 0) - 1).abs()
            frame[column + "_change_vs_last_year"] = change.round(6)
        else:
            ratio = now.where(now > 0) / before.where(before > 0)
            frame[column + "_ratio_vs_last_year"] = ratio.round(6)
    return frame


# ---------------------------------------------------------------------------------------------------- GX

@cache
def _gx() -> Any:
    """One ephemeral GX context per process with a pandas batch definition (building it costs ~14 s of import)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("uploads").add_dataframe_asset("parsed_upload")
    return asset.add_batch_definition_whole_dataframe("whole_upload")


@cache
def _gx_suite(kind: str) -> Any:
    """The kind's suite as a GX ExpectationSuite; each expectation's meta gets `rule_index` (its rulebook position)."""
    import great_expectations as gx

    document = load_suites()[kind]
    offset = len(document["meta"].get("file_rules", []))
    expectations = []
    for index, exp in enumerate(document["expectations"]):
        expectations.append({**exp, "meta": {**exp["meta"], "rule_index": offset + index}})
    return gx.ExpectationSuite(name=document["name"], expectations=expectations, meta=document["meta"])


def _suite_parameters(kind: str) -> dict[str, Any]:
    if kind == TASK_PROGRESS:
        return {"task_categories": [k.category_zh for k in reference.task_kinds().values()]}
    return {}


@cache
def _suite_columns(kind: str) -> tuple[str, ...]:
    """The frame columns the kind's expectations read (their column, column pair and column list arguments)."""
    columns: list[str] = []
    for exp in load_suites()[kind]["expectations"]:
        kwargs = exp["kwargs"]
        columns.extend(kwargs[key] for key in ("column", "column_A", "column_B") if key in kwargs)
        columns.extend(kwargs.get("column_list", []))
    return tuple(dict.fromkeys(columns))


def run_gx(kind: str, frame: pd.DataFrame) -> Any:
    """Validate a frame with the kind's suite; the GX ExpectationSuiteValidationResult (COMPLETE, with indexes)."""
    # GX's pandas engine filters the whole frame for every expectation (null rows, unexpected rows): hand it only
    # the columns the suite reads (about 40 of the ~100 enriched ones); the index, hence the positions, is kept.
    frame = frame[[c for c in _suite_columns(kind) if c in frame.columns]]
    batch = _gx().get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(_gx_suite(kind), result_format={"result_format": "COMPLETE"},
                          expectation_parameters=_suite_parameters(kind))


def write_gx_data_docs(validation: Any, directory: str | Path, run_name: str) -> Path:
    """GX's own Data Docs for one validation result (`run_gx`'s) in `directory`; returns its index.html.

    The site is (re)pointed at `directory` on the process's one GX context and built for this result only; the
    result is dropped from the in-memory store afterwards so a night of reports does not accumulate them.
    """
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = _gx().data_asset.datasource.data_context
    site_name = "upload_report"
    site_config = {"class_name": "SiteBuilder", "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                   "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                     "base_directory": str(Path(directory).resolve())}}
    if site_name in context.list_data_docs_sites():
        context.update_data_docs_site(site_name, site_config)
    else:
        context.add_data_docs_site(site_name, site_config)
    result_id = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=validation.suite_name),
        run_id=RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC)),
        batch_identifier=run_name)
    store = context.validation_results_store
    store.set(result_id, validation)
    try:
        context.build_data_docs(site_names=[site_name], resource_identifiers=[result_id])
    finally:
        store.remove_key(result_id)
    return Path(directory) / "index.html"


# ---------------------------------------------------------------------------------------------------- results

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
    status: str  # accepted | accepted_with_warnings | rejected
    kind: str | None
    rows: int
    findings: list[Finding]
    outcomes: dict[str, RuleOutcome]
    unreadable: bool = False
    gx_result: dict[str, Any] | None = None  # GX's own validation result (single-file validations only)
    frame: pd.DataFrame | None = None  # the enriched frame that was validated

    @property
    def rule_summary(self) -> dict[str, dict[str, Any]]:
        """{rule_id: {severity, failed}} of the rules with findings (the shape of ops.upload_log.rule_summary)."""
        return {r: {"severity": o.severity, "failed": o.failed} for r, o in self.outcomes.items() if o.failed}

    @property
    def error_count(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warning_count(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")

    @property
    def skipped_rules(self) -> list[str]:
        return [r for r, o in self.outcomes.items() if o.skipped]


class _LenientFormatter(string.Formatter):
    """Formats finding templates with row values; a missing or unformattable value prints as-is or blank."""

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        return kwargs.get(key)

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "（空）" if not format_spec else "-"
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
    file_scope = rule.meta.get("scope") == "file"
    if file_scope:
        positions = positions[:1]
    values = frame.iloc[positions][fields].to_dict("records") if fields else [{} for _ in positions]
    observed = frame.iloc[positions][observed_col].tolist() if observed_col else [None] * len(positions)
    rows = frame.iloc[positions]["source_row"].tolist()
    codes = frame.iloc[positions]["credit_code"].tolist() if "credit_code" in frame else [None] * len(positions)
    out = []
    for row_values, value, source_row, code in zip(values, observed, rows, codes, strict=True):
        shown = display_value(value)
        row_values.update(header=header, value=shown if shown is not None else "（空）")
        out.append(Finding(
            rule.rule_id, rule.severity,
            _FORMATTER.vformat(templates[0], (), row_values), _FORMATTER.vformat(templates[1], (), row_values),
            source_row=None if file_scope else int(source_row), credit_code=None if file_scope else code,
            column_name=column, observed_value=shown))
    return out


def _finish(parsed: ParsedUpload, context: ValidationContext, frame: pd.DataFrame | None,
            failures: dict[int, list[int]], gx_result: dict[str, Any] | None) -> ValidationReport:
    """Build the report of one file from its parser findings and its failing positions per rule index."""
    kind = parsed.kind or MONTHLY
    rules = rulebook(kind)
    outcomes = {r: RuleOutcome(r, d["severity"], d["description_zh"], d["description_en"])
                for r, d in rule_descriptions(kind).items()}
    findings = list(parsed.findings)
    missing_columns = {c for f in parsed.findings if f.rule_id in ("M001", "T001") and f.column_name
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
    findings = _without_echoes(findings)
    for finding in findings:
        outcome = outcomes.setdefault(finding.rule_id, RuleOutcome(finding.rule_id, finding.severity, "", ""))
        outcome.failed += 1
        if finding.source_row is not None:
            outcome.failed_rows.append(finding.source_row)
    for outcome in outcomes.values():
        outcome.failed_rows = sorted(set(outcome.failed_rows))
    findings.sort(key=lambda f: (f.source_row or 0, f.rule_id, f.column_name or ""))
    if any(f.severity == "error" for f in findings):
        status = "rejected"
    elif findings:
        status = "accepted_with_warnings"
    else:
        status = "accepted"
    return ValidationReport(status, parsed.kind, parsed.rows, findings, outcomes, unreadable=not parsed.readable,
                            gx_result=gx_result, frame=frame)


def _without_echoes(findings: list[Finding]) -> list[Finding]:
    """Drop the "must be given" finding of a cell already reported as "not a number" (the same mistake twice)."""
    not_numbers = {(f.source_row, f.column_name) for f in findings if f.rule_id in ("M002", "T002")
                   and f.observed_value is not None}
    return [f for f in findings if not (f.observed_value is None and f.rule_id in ("M007", "T002")
                                        and (f.source_row, f.column_name) in not_numbers)]


def _failures_by_rule(result: Any) -> dict[int, list[int]]:
    """{rule_index: [frame positions that failed]} from a GX result (table-level failures: position 0)."""
    failures: dict[int, list[int]] = {}
    for item in result.results:
        if item.success:
            continue
        index = item.expectation_config.meta["rule_index"]
        if item.exception_info and item.exception_info.get("raised_exception"):
            raise RuntimeError(f"GX could not evaluate rule {item.expectation_config.meta['rule_id']} "
                               f"({item.expectation_config.type}): {item.exception_info.get('exception_message')}")
        failures[index] = list(item.result.get("unexpected_index_list") or [0])
    return failures


def validate_many(items: Sequence[tuple[ParsedUpload, ValidationContext]]) -> list[ValidationReport]:
    """Validate many parsed uploads with one GX run per upload kind; reports in the order of `items`."""
    reports: list[ValidationReport | None] = [None] * len(items)
    by_kind: dict[str, list[int]] = {}
    for i, (parsed, context) in enumerate(items):
        if not parsed.readable or parsed.kind is None:
            reports[i] = _finish(parsed, context, None, {}, None)
        else:
            by_kind.setdefault(parsed.kind, []).append(i)
    for kind, indexes in by_kind.items():
        frames = []
        for file_key, i in enumerate(indexes):
            frame = enrich(*items[i])
            frame.insert(0, "file_key", file_key)
            frames.append(frame)
        combined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        result = run_gx(kind, combined)
        failures = _failures_by_rule(result)
        starts = np.cumsum([0] + [len(f) for f in frames])
        for file_key, i in enumerate(indexes):
            lo, hi = starts[file_key], starts[file_key + 1]
            mine = {rule: [p - lo for p in positions if lo <= p < hi] for rule, positions in failures.items()}
            mine = {rule: positions for rule, positions in mine.items() if positions}
            gx_json = result.to_json_dict() if len(indexes) == 1 else None
            reports[i] = _finish(items[i][0], items[i][1], frames[file_key].reset_index(drop=True), mine, gx_json)
    return [r for r in reports if r is not None]


def validate(parsed: ParsedUpload, context: ValidationContext) -> ValidationReport:
    """Validate one parsed upload (see `validate_many` to validate many files in one GX run)."""
    return validate_many([(parsed, context)])[0]


def context_for_check(reporter_code: str | None, period: str | None) -> ValidationContext:
    """The context of a pre-check: from the warehouse when it is reachable, else with history/registry skipped."""
    from energystat import warehouse

    try:
        dsn = warehouse.warehouse_dsn(start=False)
        return load_context(dsn, reporter_code, period)
    except Exception as exc:  # any reason the warehouse cannot answer: the check still runs the other rules
        log.info("warehouse not reachable, context rules skipped: %s", exc)
        return context_without_warehouse(reporter_code, period, str(exc).splitlines()[0] if str(exc) else "")
