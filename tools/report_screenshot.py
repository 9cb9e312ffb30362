"""Screenshots of the latest KPI report for the README (docs/kpi_report.png, docs/kpi_report_phone.png),
taken in Debian's Chromium through Playwright. Run by ``make report-screenshot`` after ``make demo``."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from smarketing import kpi_report

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def main() -> int:
    report = kpi_report.latest()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if report is None or chromium is None:
        print("needs a KPI report (make demo) and chromium (apt-get install chromium)", file=sys.stderr)
        return 1
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        for name, width, height in (("kpi_report.png", 1200, 1500), ("kpi_report_phone.png", 390, 1400)):
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(report.as_uri(), wait_until="load")
            page.screenshot(path=str(ROOT / "docs" / name))
            print(f"docs/{name} from {report.name}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
