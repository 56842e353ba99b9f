"""Opening a report in a real headless Chromium (Debian's ``chromium``, driven by Playwright
from PyPI, no browser download), as root: no sandbox, no background networking."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Seen:
    """What the browser showed: console errors, page errors, requests beyond the file."""

    evaluations: int
    text: str
    chart_width: float
    phone_overflow: int
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("FLEXMIGRATE_REQUIRE_BROWSER"):
            pytest.fail("chromium is not on PATH (CI installs it: apt-get install -y chromium)")
        pytest.skip("chromium is not on PATH (apt-get install -y chromium; .ci/run installs it)")
    return found


def open_report(path: Path) -> Seen:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        try:
            errors: list[str] = []
            requests: list[str] = []
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "request",
                lambda r: requests.append(r.url) if not r.url.startswith("file://") else None,
            )
            page.goto(path.resolve().as_uri(), wait_until="load")
            evaluations = page.locator("svg.cutover circle.eval").count()
            box = page.locator("svg.cutover").bounding_box()
            text = page.inner_text("body")
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            phone.goto(path.resolve().as_uri(), wait_until="load")
            overflow = int(phone.evaluate("document.documentElement.scrollWidth")) - 390
            return Seen(
                evaluations=evaluations,
                text=text,
                chart_width=box["width"] if box else 0.0,
                phone_overflow=overflow,
                errors=errors,
                requests=requests,
            )
        finally:
            browser.close()
