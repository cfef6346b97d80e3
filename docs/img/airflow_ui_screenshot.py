"""Screenshot of the Airflow UI's DAG list after `make demo` (docs/img/airflow_ui.png), with a real browser.

    make airflow &                       # (or ENERGYSTAT_AIRFLOW_PORT=8081 make airflow)
    python docs/img/airflow_ui_screenshot.py http://localhost:8080 docs/img/airflow_ui.png

Needs Playwright for Python (`pip install playwright`, in any venv) and Debian's chromium (`apt-get install -y
chromium`): Playwright's own browser download does not work offline. Logs in like the UI does, with the
token of the simple auth manager (cookie `_token`), as user admin with the generated password.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

PASSWORDS = (Path(os.environ.get("ENERGYSTAT_STATE_DIR") or ".energystat") / "airflow"
             / "simple_auth_manager_passwords.json.generated")


def main(base_url: str, out: str, page_path: str = "/dags") -> None:
    password = json.loads(PASSWORDS.read_text(encoding="utf-8"))["admin"]
    request = urllib.request.Request(f"{base_url}/auth/token", method="POST",
                                     data=json.dumps({"username": "admin", "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
    token = json.load(urllib.request.urlopen(request))["access_token"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 760}, timezone_id="Asia/Shanghai",
                                      locale="zh-CN")
        context.add_cookies([{"name": "_token", "value": token, "url": base_url}])
        page = context.new_page()
        page.goto(base_url + page_path, wait_until="networkidle", timeout=180_000)
        page.get_by_text("ingest_monthly_uploads").first.wait_for(timeout=180_000)  # the DAG list has loaded
        page.wait_for_timeout(5000)  # run bars and translations
        page.screenshot(path=out, full_page=True)
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
