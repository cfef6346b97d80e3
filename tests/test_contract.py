"""The upload contract (energystat.contract) and the SQL that spells the same lists agree, and the forms hold."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import yaml

from energystat import config, reference
from energystat.contract import findings, forms, uploads
from energystat.ingest.parse import split_header
from energystat.ingest.validate.rulebook import load_suites, rule_descriptions

MIGRATIONS = Path(config.PROJECT_ROOT) / "include" / "energystat" / "migrations"
MIGRATION = next(MIGRATIONS.glob("V001__*.sql"))
#: The migration that last redefined the upload log's statuses (V007 added `held`).
STATUS_MIGRATION = next(MIGRATIONS.glob("V007__*.sql"))
DBT = config.DBT_PROJECT_DIR


def _quoted(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"'([^']*)'", text))


def _in_list(sql: str, before: str) -> tuple[str, ...]:
    """The quoted values of the first `in (…)` list after `before`."""
    match = re.search(re.escape(before) + r".*?\bin\s*\(([^)]*)\)", sql, re.S)
    assert match, f"no `in (...)` after {before!r}"
    return _quoted(match[1])


def test_the_upload_log_table_accepts_exactly_the_contracts_kinds_and_statuses() -> None:
    sql = MIGRATION.read_text(encoding="utf-8")
    assert _in_list(sql, "kind             text") == uploads.KINDS
    assert _in_list(sql, "upload_log_one_live_batch") == uploads.LIVE_STATUSES
    held = STATUS_MIGRATION.read_text(encoding="utf-8")
    assert _in_list(held, "add constraint upload_log_status_check") == uploads.STATUSES
    assert set(_in_list(held, "f.rule_id not")) == findings.REVIEWABLE_RULES  # the backfill of held uploads


def test_a_rejection_is_held_only_when_every_error_is_reviewable() -> None:
    assert uploads.rejection_status(["M017"]) == uploads.HELD
    assert uploads.rejection_status(["M012", "T009", "R002"]) == uploads.HELD
    assert uploads.rejection_status(["M017", "M003"]) == uploads.REJECTED
    assert uploads.rejection_status([]) == uploads.REJECTED


def test_dbt_reads_live_uploads_as_the_contract_defines_them() -> None:
    staging = (DBT / "models" / "staging" / "stg_upload_log.sql").read_text(encoding="utf-8")
    assert _in_list(staging, "status") == uploads.LIVE_STATUSES  # is_live
    assert _in_list(staging, "as is_live,") == (*uploads.LIVE_STATUSES, uploads.SUPERSEDED)  # was_accepted
    sources = yaml.safe_load((DBT / "models" / "staging" / "_sources.yml").read_text(encoding="utf-8"))
    tables = sources["sources"][0]["tables"]
    queries = [t["config"]["loaded_at_query"] for t in tables if "loaded_at_query" in t.get("config", {})]
    assert len(queries) == 2
    for query in queries:
        assert _in_list(query, "status") == uploads.LIVE_STATUSES
    for name in ("_sources.yml", "_staging.yml"):
        text = (DBT / "models" / "staging" / name).read_text(encoding="utf-8")
        lists = re.findall(r"values: \[(processing[^\]]*)\]", text)
        assert lists and all(tuple(v.strip() for v in found.split(",")) == uploads.STATUSES for found in lists)


def test_the_whole_region_code_is_the_seeds_and_the_only_region_literal_in_sql() -> None:
    assert reference.reporter_name(uploads.WHOLE_REGION) == "全区"
    whole = [r["reporter_code"] for r in reference.load("ref_reporters") if r["reporter_type"] == "whole_region"]
    assert whole == [uploads.WHOLE_REGION]
    literals = {m for path in DBT.glob("**/*.sql") if "target" not in path.parts
                for m in re.findall(r"'([A-Z]{2})'", path.read_text(encoding="utf-8"))}
    assert literals == {uploads.WHOLE_REGION}


def test_raw_tables_have_every_column_the_copy_writes(warehouse_dsn: str) -> None:
    with psycopg.connect(warehouse_dsn) as conn:
        def columns(table: str) -> set[str]:
            schema, name = table.split(".")
            return {r[0] for r in conn.execute("select column_name from information_schema.columns"
                                               " where table_schema = %s and table_name = %s", (schema, name))}
        for kind, table in uploads.RAW_TABLES.items():
            assert set(uploads.RAW_COLUMNS[kind]) <= columns(table), kind
        assert set(findings.FINDING_COLUMNS) | {"upload_id"} <= columns("ops.dq_findings")


def test_rule_ids_the_code_names_are_described_in_the_suites() -> None:
    named = {findings.UNREADABLE, findings.TOTAL_ROW_MISMATCH, *findings.MUST_BE_GIVEN,
             *findings.MISSING_COLUMNS.values(), *findings.NOT_A_NUMBER.values(), findings.NO_DATA_ROWS,
             findings.LANDING_ENTRY, findings.FORMULA_WITHOUT_VALUE, findings.COMPLETENESS,
             *findings.CORRECTION_GUARD.values()}
    described = set(rule_descriptions(uploads.MONTHLY)) | set(rule_descriptions(uploads.TASK_PROGRESS))
    assert named <= described, named - described


def test_every_template_header_is_read_back_by_the_parser_with_its_unit() -> None:
    for spec in (*forms.MONTHLY_FORM, *forms.TASK_FORM):
        name, unit = split_header(spec.header)
        assert name in spec.names, spec.header
        assert unit == spec.unit, spec.header
        if spec.units:
            assert spec.units[unit] == 1, spec.header  # the template's own unit needs no conversion


def test_column_groups_follow_the_form() -> None:
    assert forms.ENERGY_COLUMNS == ("electricity_kwh", "natural_gas_m3", "lpg_kg", "coal_kg", "gasoline_l",
                                    "diesel_l", "heat_gj")
    assert ("electricity_kwh", "water_t", *forms.ENERGY_COLUMNS[1:]) == forms.CONSUMPTION_COLUMNS
    assert set(reference.coal_coefficients()) >= set(forms.ENERGY_COLUMNS)  # every energy column converts
    assert uploads.RAW_COLUMNS[uploads.MONTHLY][-len(forms.MONTHLY_NUMERIC_COLUMNS):] == forms.MONTHLY_NUMERIC_COLUMNS


def test_dbts_converted_columns_are_the_contracts_energy_columns() -> None:
    macro = (DBT / "macros" / "energy_columns.sql").read_text(encoding="utf-8")
    listed = re.search(r"macro converted_columns\(\).*?return\(\[([^\]]*)\]\)", macro, re.S)
    assert listed and _quoted(listed[1]) == forms.ENERGY_COLUMNS


def test_every_number_column_of_a_form_is_checked_by_its_suite() -> None:
    """A number column added to a form without its "must be a number" expectation fails here."""
    from energystat.ingest.parse import NOT_A_NUMBER_SUFFIX
    from energystat.ingest.validate.rulebook import rulebook

    for kind, form in ((uploads.MONTHLY, forms.MONTHLY_FORM), (uploads.TASK_PROGRESS, forms.TASK_FORM)):
        checked = {rule.kwargs.get("column") for rule in rulebook(kind) if rule.rule_id == findings.NOT_A_NUMBER[kind]}
        numeric = {spec.raw + NOT_A_NUMBER_SUFFIX for spec in form if spec.numeric}
        assert numeric and numeric <= checked, (kind, numeric - checked)


def test_every_rule_of_the_suites_is_marked_reviewable_exactly_when_the_contract_says_so() -> None:
    suites = load_suites()
    for kind, suite in suites.items():
        metas = [e["meta"] for e in suite["expectations"]]
        metas += [*suite["meta"].get("file_rules", []), *suite["meta"].get("rules", [])]
        for meta in metas:
            assert meta.get("reviewable") is (meta["rule_id"] in findings.REVIEWABLE_RULES), (kind, meta["rule_id"])
    never = {findings.UNREADABLE, *findings.MISSING_COLUMNS.values(), *findings.NOT_A_NUMBER.values(),
             "M003", "M004", "M006", "M009", "T003", "T005"}
    assert not never & findings.REVIEWABLE_RULES


def test_the_correction_guard_is_an_error_marked_reviewable_in_each_suite() -> None:
    for kind, rule_id in findings.CORRECTION_GUARD.items():
        rule = rule_descriptions(kind)[rule_id]
        assert rule["severity"] == findings.ERROR and rule.get("reviewable") is True, rule
        assert rule["description_zh"] and rule["description_en"]
