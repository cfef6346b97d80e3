"""The ingestion steps as plain functions over JSON-friendly values: what the Airflow tasks call.

Each function takes and returns dicts and lists (XCom-safe), imports nothing from Airflow, and can be run
and tested on its own. The in-process equivalent of the whole DAG is `energystat.ingest.ingest`.
"""

from __future__ import annotations

from typing import Any

from energystat import ingest
from energystat.ingest import LandingFile, Outcome


def plan_run(
    root: str, dsn: str, reporter: str | None = None, period: str | None = None,
    force: bool = False, batch_count: int | None = None,
) -> dict[str, Any]:
    """Discover new files; log duplicates; split the rest into the registry and balanced batches."""
    files = ingest.discover(ingest.landing_root(root), reporter or None, period or None)
    todo, duplicates = ingest.select_new(dsn, files, force=force)
    registry = [f.to_dict() for f in todo if f.kind == "registry"]
    uploads = [f for f in todo if f.kind != "registry"]
    return {
        "registry": registry,
        "batches": ingest.batches_by_reporter(uploads, batch_count or ingest.env_batch_count()),
        "duplicates": [o.to_dict() for o in duplicates],
        "discovered": len(files),
    }


def run_batch(batch: list[dict[str, Any]], dsn: str, root: str) -> list[dict[str, Any]]:
    """Process the files of one batch in order (registry or uploads); returns their outcomes."""
    outcomes = ingest.process_files([LandingFile(**f) for f in batch], dsn, ingest.landing_root(root))
    return [o.to_dict() for o in outcomes]


def send_alerts(outcomes: list[dict[str, Any]], urls: list[str]) -> int:
    from energystat import alerts

    return alerts.alert_on_outcomes([Outcome(**o) for o in outcomes], urls)


def loaded_assets(outcomes: list[dict[str, Any]]) -> list[str]:
    """Asset URIs whose raw table received data in this run."""
    from energystat import assets

    kinds = {o["kind"] for o in outcomes if o["status"] in ingest.LIVE_STATUSES}
    return sorted(assets.BY_KIND[k] for k in kinds if k in assets.BY_KIND)


def summarize(outcomes: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o["status"]] = counts.get(o["status"], 0) + 1
    return counts
