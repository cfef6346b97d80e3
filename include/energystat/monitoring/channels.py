"""Where a reporter's messages go: its own Apprise URLs, else the governance channel."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

from energystat.ingest import alert as alerts

#: JSON object {reporter_code: "url url" or [urls]}; the DAGs read the Airflow Variable of the same name first.
REPORTER_URLS_ENV = "ENERGYSTAT_REPORTER_ALERT_URLS"
REPORTER_URLS_VARIABLE = "energystat_reporter_alert_urls"


def parse_reporter_urls(text: str | None) -> dict[str, list[str]]:
    """{"450100": ["mailto://…"], "450200": "json://a, json://b"} → {code: [urls]}; empty text → {}."""
    if not text or not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{REPORTER_URLS_ENV} / {REPORTER_URLS_VARIABLE} is not JSON ({exc}): expected "
                         '{"450100": ["mailto://…"]} / 报送单位通知地址配置不是 JSON') from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{REPORTER_URLS_ENV}: expected a JSON object reporter_code → URLs, got {type(raw).__name__}")
    out: dict[str, list[str]] = {}
    for code, urls in raw.items():
        out[str(code)] = alerts.parse_urls(urls) if isinstance(urls, str) else [str(u) for u in urls]
    return out


def configured_reporter_urls() -> dict[str, list[str]]:
    return parse_reporter_urls(os.environ.get(REPORTER_URLS_ENV))


def urls_for(reporter_code: str, reporter_urls: Mapping[str, Sequence[str]], governance_urls: Sequence[str]) -> list[str]:
    """The reporter's own channels when it has any, else the governance channel."""
    own = list(reporter_urls.get(reporter_code) or [])
    return own or list(governance_urls)
