"""WireMock standalone as a baseline: find java and the jar, serve stubs equivalent to ours.

The jar comes from the npm package ``wiremock`` (it ships ``build/wiremock-standalone-*.jar``):
``npm install --prefix bench/.wiremock wiremock``. It is looked for in ``$WIREMOCK_JAR``, then
``bench/.wiremock``, then the global npm root. The stubs match the same requests the mock
server answers (POST to the chat/image paths, the body checked with a JSON path, as our server
parses it) and answer the same bodies. ``python bench/wiremock.py`` says what was found.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    CHAT_PATH,
    IMAGE_PATH,
    ServerProcess,
    free_port,
    wait_http_ok,
)

INSTALL_HINT = (
    "install java (e.g. apt-get install default-jre-headless) and the jar "
    "(npm install --prefix bench/.wiremock wiremock)"
)


def find_jar() -> Path | None:
    candidates: list[Path] = []
    if os.environ.get("WIREMOCK_JAR"):
        candidates.append(Path(os.environ["WIREMOCK_JAR"]))
    candidates.extend(sorted((BENCH_DIR / ".wiremock").glob("**/wiremock/build/*standalone*.jar")))
    npm = shutil.which("npm")
    if npm:
        try:
            root = subprocess.run(
                [npm, "root", "-g"], capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            root = ""
        if root:
            candidates.extend(sorted(Path(root, "wiremock", "build").glob("*standalone*.jar")))
    return next((path for path in candidates if path.is_file()), None)


def availability() -> tuple[Path | None, str | None]:
    """``(jar, None)`` when WireMock can run, else ``(None, why not)``."""
    java = shutil.which("java")
    if java is None:
        return None, f"java not found; {INSTALL_HINT}"
    jar = find_jar()
    if jar is None:
        return None, f"wiremock jar not found; {INSTALL_HINT}"
    return jar, None


def mappings(content: str, frames: bytes, image_url: str) -> list[dict[str, Any]]:
    """Stub mappings equivalent to the mock server's default answers."""
    return [
        {
            "priority": 1,
            "request": {
                "method": "POST",
                "urlPath": CHAT_PATH,
                "bodyPatterns": [{"matchesJsonPath": "$[?(@.stream == true)]"}],
            },
            "response": {
                "status": 200,
                "headers": {"Content-Type": "text/event-stream"},
                "body": frames.decode("utf-8"),
            },
        },
        {
            "priority": 2,
            "request": {
                "method": "POST",
                "urlPath": CHAT_PATH,
                "bodyPatterns": [{"matchesJsonPath": "$.messages"}],
            },
            "response": {
                "status": 200,
                "headers": {"Content-Type": "application/json"},
                "jsonBody": {"content": content},
            },
        },
        {
            "request": {
                "method": "POST",
                "urlPath": IMAGE_PATH,
                "bodyPatterns": [{"matchesJsonPath": "$.prompt"}],
            },
            "response": {
                "status": 200,
                "headers": {"Content-Type": "application/json"},
                "jsonBody": {"url": image_url},
            },
        },
        {
            "request": {"method": "GET", "urlPath": "/healthz"},
            "response": {"status": 200, "jsonBody": {"status": "ok"}},
        },
    ]


class WireMockServer(ServerProcess):
    """``java -jar wiremock-standalone.jar`` on a free port with our stubs; ready on /healthz."""

    def __init__(
        self,
        jar: Path,
        *,
        content: str,
        frames: bytes,
        journal_entries: int | None = None,
        ready_timeout: float = 90.0,
        stubs: list[dict[str, Any]] | None = None,
    ) -> None:
        """``stubs``: these mappings instead of the ones equivalent to the mock's defaults
        (plus the /healthz one that start() waits on)."""
        self._tmp = tempfile.TemporaryDirectory(prefix="websim-wiremock-")
        root = Path(self._tmp.name)
        (root / "mappings").mkdir()
        (root / "__files").mkdir()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        if stubs is None:
            stubs = mappings(content, frames, f"{url}/images/wiremock.png")
        else:
            stubs = [*stubs, mappings(content, frames, url)[-1]]  # the /healthz mapping
        for i, stub in enumerate(stubs):
            (root / "mappings" / f"stub{i}.json").write_text(json.dumps(stub))
        argv = [
            shutil.which("java") or "java",
            "-jar",
            str(jar),
            "--port",
            str(port),
            "--bind-address",
            "127.0.0.1",
            "--root-dir",
            str(root),
            "--disable-banner",
            "--disable-request-logging",
        ]
        if journal_entries is not None:
            argv += ["--max-request-journal-entries", str(journal_entries)]
        super().__init__(argv, url=url, ready_timeout=ready_timeout)

    def start(self) -> WireMockServer:
        super().start()
        assert self.url is not None
        try:
            wait_http_ok(self.url + "/healthz", timeout=self.ready_timeout, interval=0.05)
        except TimeoutError:
            self.stop()
            raise RuntimeError("WireMock did not start:\n" + "\n".join(self.output[-20:])) from None
        return self

    def reset_journal(self) -> None:
        """Empty WireMock's request journal (unbounded by default, so it slows down as it fills)."""
        assert self.url is not None
        request = urllib.request.Request(self.url + "/__admin/requests", method="DELETE")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        super().stop()
        self._tmp.cleanup()


def main() -> int:
    jar, why = availability()
    if jar is None:
        print(f"WireMock unavailable: {why}")
        return 1
    print(f"WireMock jar: {jar}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
