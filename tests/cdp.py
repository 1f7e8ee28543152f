"""Headless Chromium driven over the DevTools protocol: open a page, fill a form,
press a button, read the page, and tell whether any script ran that we did not
ship.

Every page opened is watched from before its first script: a Content-Security-
Policy violation (an injected inline script or handler the page's policy
blocked) and a JavaScript dialog (``alert``) are recorded, and ``ran_foreign``
says whether anything of the kind happened. On an exception inside ``with``, a
screenshot is saved beside the test's files.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.browser import FLAGS
from tests.services import chromium

WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + (e.sample || ''));
});
"""


class Browser:
    """One headless Chromium with one page. Use as a context manager."""

    def __init__(self, shots: Path, timezone: str | None = None) -> None:
        self.shots = shots
        self.timezone = timezone
        self._profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        self._next = 0
        self._events: list[dict[str, Any]] = []
        self.dialogs: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._ws: ClientConnection | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Browser:
        profile = Path(self._profile.name)
        self._proc = subprocess.Popen(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "--window-size=420,900",  # a phone's width
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helper processes in a group of their own
        )
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and active.read_text().count("\n") >= 1):
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
            time.sleep(0.05)
        port = int(active.read_text().splitlines()[0])
        pages = [
            t for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json() if t["type"] == "page"
        ]
        self._ws = self._stack.enter_context(
            connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        )
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Page.addScriptToEvaluateOnNewDocument", source=WATCH)
        if self.timezone:
            self.send("Emulation.setTimezoneOverride", timezoneId=self.timezone)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is not None and self._ws is not None:
                self.shots.mkdir(parents=True, exist_ok=True)
                self.screenshot(self.shots / "failure.png")
        finally:
            self._stack.close()
            if self._proc is not None:
                # the browser and the helpers it started (this group is ours alone)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGTERM)
                self._proc.wait(timeout=30)
            self._profile.cleanup()

    # The protocol ------------------------------------------------------------------

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self._ws is not None
        self._next += 1
        mine = self._next
        self._ws.send(json.dumps({"id": mine, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=60))
            if message.get("id") == mine:
                assert "error" not in message, (method, message["error"])
                return message.get("result", {})
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        if message.get("method") == "Page.javascriptDialogOpening":
            self.dialogs.append(message["params"].get("message", ""))
            assert self._ws is not None
            self._next += 1
            self._ws.send(
                json.dumps(
                    {
                        "id": self._next,
                        "method": "Page.handleJavaScriptDialog",
                        "params": {"accept": True},
                    }
                )
            )
        self._events.append(message)

    def _wait_load(self, timeout: float = 30) -> None:
        assert self._ws is not None
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self._events):
                if e.get("method") == "Page.loadEventFired":
                    del self._events[: i + 1]
                    return
            left = deadline - time.monotonic()
            assert left > 0, "the page did not load"
            self._event(json.loads(self._ws.recv(timeout=left)))

    # What a person does ---------------------------------------------------------------

    def open(self, url: str) -> None:
        self._events.clear()
        self.send("Page.navigate", url=url)
        self._wait_load()

    def js(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def fill(self, selector: str, value: str) -> None:
        self.js(
            f"(function(){{var e=document.querySelector({json.dumps(selector)});"
            f"e.focus();e.value={json.dumps(value)};}})()"
        )

    def choose_files(self, selector: str, paths: list[Path]) -> None:
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.send("DOM.setFileInputFiles", files=[str(p) for p in paths], nodeId=node)

    def click(self, selector: str, *, loads: bool = True) -> None:
        """Click, with the keyboard (focus and Enter), as a person without a mouse would;
        wait for the next page when ``loads``."""
        self._events.clear()
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        for kind in ("keyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Enter",
                code="Enter",
                windowsVirtualKeyCode=13,
                text="\r" if kind == "keyDown" else "",
            )
        if loads:
            self._wait_load()

    def text(self, selector: str = "body") -> str:
        return str(self.js(f"document.querySelector({json.dumps(selector)}).innerText"))

    def html(self) -> str:
        return str(self.js("document.documentElement.outerHTML"))

    def url(self) -> str:
        return str(self.js("location.href"))

    def ran_foreign(self) -> list[str]:
        """Every sign that a script we did not ship ran or tried to: blocked by the
        page's policy, a dialog opened, or the marker payloads set."""
        signs = list(self.js("window.__csp || []"))
        signs += [f"dialog: {d}" for d in self.dialogs]
        if self.js("typeof window.__pwned !== 'undefined'"):
            signs.append("window.__pwned was set")
        return signs

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
