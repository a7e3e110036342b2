"""The committed report in a real browser: headless Chromium, driven over the DevTools protocol.

Chromium is started with ``--remote-debugging-pipe``: the DevTools protocol's JSON messages go
over two pipes (file descriptors 3 and 4 of the browser), so no websocket client is needed.
The test opens ``results/mnist/report.html`` from the file system (no server, no network) and
checks that every image loads (``naturalWidth > 0``), the console has no error, and a table
sorts when its header is clicked; it saves a screenshot for a person to look at
(``BACKDOOR_CURVES_SCREENSHOT=path.png``; by default in the test's temporary folder).

Skipped, with the reason, only when no Chromium or Chrome executable is found (``.ci/run``
installs Debian's ``chromium`` when it is missing).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "results" / "mnist" / "report.html"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
TIMEOUT = 60.0


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


class DevTools:
    """A headless browser and one page, driven over the DevTools pipe."""

    def __init__(self, browser: str, profile: Path) -> None:
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()
        # The browser reads commands on fd 3 and writes replies and events on fd 4: bash
        # puts the pipe ends there (first moved above 9, so that no redirection clobbers one).
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]
        os.close(to_browser)
        os.close(from_browser)
        arguments = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
            "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}",
            "--allow-file-access-from-files", "about:blank",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{high[0]} 4>&{high[1]}', "bash", *arguments],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=tuple(high),
        )
        for fd in high:
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._write)
        os.close(self._read)

    def _message(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("the browser closed its DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, session: bool = True, **params: Any) -> dict[str, Any]:
        """Send a command and return its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session and self.session is not None:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            reply = self._message()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(method)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        for event in self.events:
            if event.get("method") == method:
                return event
        while time.monotonic() < deadline:
            event = self._message()
            self.events.append(event)
            if event.get("method") == method:
                return event
        raise TimeoutError(method)

    def open_page(self, url: str) -> None:
        target = self.send("Target.createTarget", session=False, url="about:blank")
        attached = self.send(
            "Target.attachToTarget", session=False, targetId=target["targetId"], flatten=True
        )
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=1400, height=1800,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads reported so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(json.dumps(params.get("args")))
            elif method == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text", ""))
        return found


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    browser = find_browser()
    if browser is None:
        pytest.skip(f"no Chromium or Chrome executable on PATH (looked for {', '.join(BROWSERS)})")
    assert REPORT.is_file(), "results/mnist/report.html is committed"
    devtools = DevTools(browser, tmp_path_factory.mktemp("chromium-profile"))
    try:
        devtools.open_page(REPORT.as_uri())
        # Images load with the page (loading="eager"); wait until each is complete.
        devtools.evaluate(
            "Promise.all(Array.from(document.images).map(i => i.complete ? 0 : "
            "new Promise(r => { i.onload = r; i.onerror = r; })))"
        )
        yield devtools
    finally:
        devtools.close()


def test_every_image_of_the_committed_report_loads(page):
    widths = page.evaluate(
        "Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])"
    )
    committed = list((ROOT / "results" / "mnist").rglob("*.png"))
    assert len(widths) == len(committed) > 0
    assert [src for src, width in widths if not width > 0] == []


def test_the_page_has_no_console_error(page):
    assert page.errors() == []


def test_tables_sort_when_their_header_is_clicked(page):
    script = """
    (() => {
      const table = Array.from(document.querySelectorAll("table.sortable"))
        .find(t => t.querySelector("th").textContent.trim() === "run folder"
                   && t.tHead.rows[0].cells.length === 4);
      const header = table.tHead.rows[0].cells[3];
      const values = () => Array.from(table.tBodies[0].rows)
        .map(r => Number(r.cells[3].dataset.value));
      const before = values();
      header.click();
      const ascending = values();
      header.click();
      return [before, ascending, values(), header.getAttribute("aria-sort")];
    })()
    """
    before, ascending, descending, sort = page.evaluate(script)
    assert sorted(before) == ascending != before
    assert descending == sorted(before, reverse=True)
    assert sort == "descending"


def test_screenshot_of_the_report(page, tmp_path):
    target = Path(os.environ.get("BACKDOOR_CURVES_SCREENSHOT", tmp_path / "report.png"))
    shot = page.send("Page.captureScreenshot", format="png")
    target.write_bytes(base64.b64decode(shot["data"]))
    assert target.read_bytes().startswith(b"\x89PNG")
