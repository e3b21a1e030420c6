"""The HTML report in headless Chromium: opened from file://, it asks for nothing else, and draws.

Every request the page makes is recorded through the Chrome DevTools Protocol (Network.requestWillBeSent),
so a stray CDN link, font or image would show up whatever host it pointed at.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from chaosgate.report import write_reports
from chaosgate.report.compare import compare_runs, render_compare
from chaosgate.result import RunResult

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/test installs it)"
)


class DevTools:
    """The few CDP calls the test needs, over one flattened session to one page."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.session = ""

    def call(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True) -> dict[str, Any]:
        msg_id = next(self.ids)
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if page and self.session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv(timeout=30))
            if reply.get("id") == msg_id:
                assert "error" not in reply, reply
                result: dict[str, Any] = reply["result"]
                return result
            self.events.append(reply)

    def wait_for(self, method: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(e.get("method") == method for e in self.events):
            self.events.append(json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.1))))

    def drain(self, seconds: float) -> None:
        """Late requests (a lazy image, a font) would come after load: listen a little longer."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                return


@pytest.fixture
def devtools(tmp_path: Path) -> Iterator[DevTools]:
    assert CHROMIUM is not None
    browser = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # we run as root
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert browser.stderr is not None
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = browser.stderr.readline()
            if m := re.search(r"DevTools listening on (ws://\S+)", line):
                url = m.group(1)
        assert url, "chromium did not announce its DevTools endpoint"
        with connect(url, max_size=64 * 2**20) as ws:
            tools = DevTools(ws)
            target = tools.call("Target.createTarget", {"url": "about:blank"}, page=False)["targetId"]
            tools.session = tools.call(
                "Target.attachToTarget", {"targetId": target, "flatten": True}, page=False
            )["sessionId"]
            tools.call("Network.enable")
            tools.call("Page.enable")
            tools.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": 1500, "deviceScaleFactor": 1, "mobile": False},
            )
            yield tools
    finally:
        browser.terminate()
        browser.wait(timeout=10)


def open_page(tools: DevTools, path: Path) -> list[str]:
    """Navigate to `path` and return the URL of every request the page made."""
    tools.call("Page.navigate", {"url": path.as_uri()})
    tools.wait_for("Page.loadEventFired")
    tools.drain(1.0)
    return [
        e["params"]["request"]["url"] for e in tools.events if e.get("method") == "Network.requestWillBeSent"
    ]


def evaluate(tools: DevTools, expression: str) -> Any:
    return tools.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"][
        "value"
    ]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_opens_offline_and_draws_the_summary(
    devtools: DevTools, tmp_path: Path, hardened: RunResult
) -> None:
    html = write_reports(hardened, tmp_path / hardened.run_id).html

    requests = open_page(devtools, html)

    assert requests == [html.as_uri()]  # the page itself, and nothing else
    rows = evaluate(
        devtools, "[...document.querySelectorAll('#summary tbody tr')].map(r => r.cells[0].innerText)"
    )
    assert rows == [s.name for s in hardened.scenarios]
    assert evaluate(devtools, "document.getElementById('verdict').innerText") == "gate: FAIL"
    assert evaluate(devtools, "document.querySelectorAll('svg.chart').length") == 2 * len(hardened.scenarios)
    # The summary table fits a laptop screen's width (no horizontal scrolling).
    assert evaluate(devtools, "document.documentElement.scrollWidth <= window.innerWidth")

    shot = base64.b64decode(devtools.call("Page.captureScreenshot", {"format": "png"})["data"])
    (tmp_path / "report.png").write_bytes(shot)
    assert png_size(shot) == (1280, 1500)
    assert len(shot) > 60_000  # text, table and chart: a blank or unstyled page compresses to far less


def test_report_prints(devtools: DevTools, tmp_path: Path, baseline: RunResult) -> None:
    html = write_reports(baseline, tmp_path / baseline.run_id).html
    open_page(devtools, html)

    pdf = base64.b64decode(devtools.call("Page.printToPDF", {"printBackground": True})["data"])

    assert pdf.startswith(b"%PDF")
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type/Page") + pdf.count(b"/Type /Page ") >= 1


def test_comparison_page_opens_offline(
    devtools: DevTools, tmp_path: Path, baseline: RunResult, hardened: RunResult
) -> None:
    page = tmp_path / "compare.html"
    page.write_text(render_compare(compare_runs(baseline, hardened)), encoding="utf-8")

    assert open_page(devtools, page) == [page.as_uri()]
    assert evaluate(devtools, "document.querySelectorAll('#deltas tbody tr').length") == len(
        baseline.scenarios
    )


def test_v2_report_colours_labels_by_meaning_and_shows_the_claims(
    devtools: DevTools, tmp_path: Path, v2: RunResult
) -> None:
    html = write_reports(v2, tmp_path / v2.run_id).html

    assert open_page(devtools, html) == [html.as_uri()]

    def colour(scenario: str, column: int) -> list[str]:
        """The cell's text and its computed colour, as the reader sees it."""
        return evaluate(  # type: ignore[no-any-return]
            devtools,
            f"""(() => {{
              const row = [...document.querySelectorAll('#summary tbody tr')]
                .find(r => r.cells[0].innerText === {json.dumps(scenario)});
              const cell = row.cells[{column}];
              return [cell.innerText, getComputedStyle(cell).color];
            }})()""",
        )

    red, green, grey = "rgb(180, 35, 24)", "rgb(30, 125, 70)", "rgb(102, 112, 133)"
    assert colour("cassandra-slow", 4) == ["YES", red]  # data was lost
    assert colour("redis-flaky", 4) == ["NO", green]
    assert colour("redis-flaky", 2) == ["YES 100%", green]  # isolation YES is the good one
    assert colour("service-crash", 4) == ["n/a", grey]  # not measured: neutral
    assert colour("cockroach-pool-exhaustion", 2) == ["n/a", grey]
    claims = evaluate(
        devtools, "[...document.querySelectorAll('#claims tbody tr')].map(r => r.cells[3].innerText)"
    )
    assert claims[0] == "claim PARTIAL, measured YES: disagrees"  # cassandra-slow's data loss
    assert len(claims) == 6
    assert "measured 61.2%: agrees" in evaluate(
        devtools, "document.getElementById('claims-overall').innerText"
    )
    assert "open-loop" in evaluate(devtools, "document.getElementById('load-level').innerText")
    # The wider summary and the claims table still fit a laptop screen's width.
    assert evaluate(devtools, "document.documentElement.scrollWidth <= window.innerWidth")


def test_v3_report_shows_inconclusive_apart_and_the_cascade_paths(
    devtools: DevTools, tmp_path: Path, v3: RunResult
) -> None:
    html = write_reports(v3, tmp_path / v3.run_id).html

    assert open_page(devtools, html) == [html.as_uri()]

    def cell(scenario: str, column: int) -> list[str]:
        """The label as the reader sees it (first line) and its computed colour."""
        return evaluate(  # type: ignore[no-any-return]
            devtools,
            f"""(() => {{
              const row = [...document.querySelectorAll('#summary tbody tr')]
                .find(r => r.cells[0].innerText === {json.dumps(scenario)});
              const c = row.cells[{column}];
              return [c.innerText.split('\\n')[0], getComputedStyle(c).color];
            }})()""",
        )

    red, green, violet = "rgb(180, 35, 24)", "rgb(30, 125, 70)", "rgb(91, 63, 166)"
    # columns: scenario, must survive / broken, isolation, cascades, data loss, ...
    assert cell("websocket-flood", 2) == ["inconclusive (machine saturated)", violet]  # neither pass nor fail
    assert cell("cassandra-slow", 3) == ["YES", red]
    assert cell("push-outage", 4) == ["YES", red]
    assert cell("push-outage", 2) == ["YES 100%", green]
    assert cell("cassandra-slow", 1) == ["6 / 3", "rgb(29, 35, 48)"]
    assert evaluate(devtools, "document.getElementById('inconclusive').offsetHeight") > 0
    rows = "document.querySelectorAll('#cascade-cassandra-slow tbody tr')"
    paths = evaluate(devtools, f"[...{rows}].map(r => r.cells[0].innerText)")
    assert paths == ["auth.login", "auth.refresh", "chat.history"]
    # Wider summary, the per-scenario cascade, verdict and writer tables: still no horizontal scrolling.
    assert evaluate(devtools, "document.documentElement.scrollWidth <= window.innerWidth")
    shot = base64.b64decode(devtools.call("Page.captureScreenshot", {"format": "png"})["data"])
    (tmp_path / "report-v3.png").write_bytes(shot)
    assert len(shot) > 60_000
