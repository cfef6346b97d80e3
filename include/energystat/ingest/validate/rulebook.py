"""The rulebook: the expectation suites in `expectations/` (one per upload kind) read as rules with their texts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from energystat import config
from energystat.contract.uploads import MONTHLY, TASK_PROGRESS

SUITE_FILES = {MONTHLY: "monthly_statistics.json", TASK_PROGRESS: "task_progress.json"}


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
    """One row per rule id (kind, id, severity, Chinese and English description, reviewable, expectation count)."""
    rows: list[dict[str, str]] = []
    for kind in SUITE_FILES:
        counts: dict[str, int] = {}
        for rule in rulebook(kind):
            counts[rule.rule_id] = counts.get(rule.rule_id, 0) + (1 if rule.expectation_type else 0)
        for rule_id, row in rule_descriptions(kind).items():
            rows.append({"kind": kind, "rule_id": rule_id, "severity": row["severity"],
                         "description_zh": row["description_zh"], "description_en": row["description_en"],
                         "reviewable": "yes" if row.get("reviewable") else "no",
                         "expectations": str(counts.get(rule_id, 0))})
    return rows
