"""Old import path of the alert stage, kept while `plugins/energystat_alerts.py` still uses it.

Remove once the plugin (h11's) imports `energystat.ingest.alert`.
"""

from energystat.ingest.alert import configured_urls, parse_urls, send

__all__ = ["configured_urls", "parse_urls", "send"]
