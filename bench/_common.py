"""Shared helpers for the benchmark scripts: request bodies, child servers, RSS, load runs.

Everything here talks to 127.0.0.1 only, and every wait is bounded by a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PYTHON = sys.executable

CHAT_PATH = "/api/v1/inference/run_chat_completion"
IMAGE_PATH = "/api/v1/inference/run_image_generation"

# What the known clients send (see /work/shared/websim-protocol.md): a JSON body labelled
# text/plain, as a browser fetch() would.
CONTENT_TYPE = "text/plain;charset=UTF-8"
CHAT_PAYLOAD: dict[str, Any] = {
    "project_id": "ke3_xh5gai3gjkmruomu",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello, how are you?"},
    ],
}
STREAM_PAYLOAD: dict[str, Any] = {**CHAT_PAYLOAD, "stream": True}
IMAGE_PAYLOAD: dict[str, Any] = {
    "project_id": "kx0m131_rzz66qb2xoy7",
    "prompt": "A cat in space",
    "aspect_ratio": "1:1",
}


def dump(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# scenario name -> (path, body)
SCENARIOS: dict[str, tuple[str, bytes]] = {
    "chat": (CHAT_PATH, dump(CHAT_PAYLOAD)),
    "stream": (CHAT_PATH, dump(STREAM_PAYLOAD)),
    "image": (IMAGE_PATH, dump(IMAGE_PAYLOAD)),
}

_LISTENING = re.compile(r"listening on (https?://\S+)")
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


# The same scenarios with the project ID also in the user message or the prompt: with a fresh
# ID in every request, no two requests then share a conversation (no answer cache helps).
def _id_in_text(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with its project ID appended to the last message's content or the prompt."""
    suffix = " " + payload["project_id"]
    if "prompt" in payload:
        return {**payload, "prompt": payload["prompt"] + suffix}
    *before, last = payload["messages"]
    return {**payload, "messages": [*before, {**last, "content": last["content"] + suffix}]}


VARIED_SCENARIOS: dict[str, tuple[str, bytes]] = {
    "chat": (CHAT_PATH, dump(_id_in_text(CHAT_PAYLOAD))),
    "stream": (CHAT_PATH, dump(_id_in_text(STREAM_PAYLOAD))),
    "image": (IMAGE_PATH, dump(_id_in_text(IMAGE_PAYLOAD))),
}


def scenario(name: str, bodies: str = "fresh") -> tuple[str, bytes]:
    """``(path, body)`` of a scenario; ``bodies="varied"`` puts the ID in the conversation too."""
    return (VARIED_SCENARIOS if bodies == "varied" else SCENARIOS)[name]


def id_template(body: bytes) -> tuple[list[bytes], int, int] | None:
    """``(pieces, left, right)``: the body is ``ID.join(pieces)``, ID of the shape ``left``_``right``.

    Real clients send a fresh project ID with every request, so a load run that repeats one
    body byte for byte would flatter any server that caches by body; the load generators put a
    fresh ID of the same shape in each request, wherever the body's ID appears.
    """
    project_id = json.loads(body).get("project_id")
    if not isinstance(project_id, str) or project_id.count("_") != 1:
        return None
    pieces = body.split(project_id.encode())
    if len(pieces) < 2:
        return None
    left, _, right = project_id.partition("_")
    return pieces, len(left), len(right)


def numbered_bodies(body: bytes, count: int) -> list[bytes]:
    """``count`` copies of ``body``, each with its own project ID of the same shape (the
    number ``i`` in its digits), wherever the ID appears: the same bodies in every run."""
    template = id_template(body)
    if template is None:
        return [body] * count
    pieces, left, right = template
    out = []
    for i in range(count):
        digits = f"{i:0{left + right}d}"[-(left + right) :]
        out.append((digits[:left] + "_" + digits[left:]).encode().join(pieces))
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_post(url: str, body: bytes, timeout: float = 5.0) -> tuple[int, str, bytes]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"content-type": CONTENT_TYPE}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read()


def wait_http_ok(url: str, timeout: float = 30.0, interval: float = 0.005) -> float:
    """Poll ``url`` until it answers 200; returns the time waited. Raises TimeoutError."""
    start = time.perf_counter()
    deadline = start + timeout
    while True:
        with contextlib.suppress(OSError):
            status, _ = http_get(url, timeout=1.0)
            if status == 200:
                return time.perf_counter() - start
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{url} did not answer 200 within {timeout} s")
        time.sleep(interval)


class ServerProcess:
    """A child server that prints ``... listening on http://HOST:PORT``; stopped on exit.

    The rest of its output is drained in a thread (kept, last lines only) so a chatty server
    cannot block on a full pipe.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        url: str | None = None,
        ready_timeout: float = 30.0,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.url = url  # known up front (servers that do not print their URL)
        self.ready_timeout = ready_timeout
        self.env = env
        self.cwd = cwd or ROOT
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self._drain: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,  # so stop() can signal the whole group (workers too)
        )
        if self.url is None:
            self.url = self._read_url()
        self._drain = threading.Thread(target=self._drain_output, daemon=True)
        self._drain.start()
        return self

    def _read_url(self) -> str:
        assert self.proc is not None
        assert self.proc.stdout is not None
        found: list[str] = []

        def read() -> None:
            assert self.proc is not None
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line.rstrip())
                match = _LISTENING.search(line)
                if match:
                    found.append(match[1].rstrip("/"))
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.ready_timeout)
        if not found:
            self.stop()
            tail = "\n".join(self.output[-20:])
            raise RuntimeError(
                f"{' '.join(self.argv)} did not report its URL within "
                f"{self.ready_timeout} s; output:\n{tail}"
            )
        return found[0]

    def _drain_output(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip())
            del self.output[:-200]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                out.extend(int(p) for p in text.split())
    return out


def rss_kib(pid: int, *, tree: bool = True) -> int:
    """Resident set size (VmRSS, KiB) of ``pid``, plus its descendants when ``tree``."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        if tree:
            pids.extend(_children(current))
    return total


def peak_rss_mib() -> float:
    """This process's peak resident set size (VmHWM), MiB. Not ``ru_maxrss``: Linux carries
    that over a fork and exec, so a child started by a large parent reports the parent's."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource  # (no /proc: the best there is)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds(pid: int, *, tree: bool = True) -> float:
    """User + system CPU time used so far by ``pid`` (all its threads), plus its descendants.

    CPU time per request is steadier than requests per second on a shared machine: a server
    that waits for the CPU serves fewer requests, but spends about the same CPU on each.
    """
    ticks = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        if tree:
            pids.extend(_children(current))
    return ticks / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples ``rss_kib(pid)`` in a thread; ``peak`` is the highest value seen."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, rss_kib(self.pid))


# --- servers ----------------------------------------------------------------------------------


def mock_server_available() -> bool:
    """True when ``mock_server`` can be imported and run (it is built by another issue)."""
    result = subprocess.run(
        [PYTHON, "-c", "import mock_server, mock_server.__main__"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    return result.returncode == 0


def mock_server_help() -> str:
    result = subprocess.run(
        [PYTHON, "-m", "mock_server", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout + result.stderr


def mock_server_argv(*extra: str, uvloop: bool = False) -> list[str]:
    if uvloop:
        # Same entry point, uvloop's event loop policy installed first (Python 3.11 API).
        code = (
            "import sys, uvloop; uvloop.install(); "
            "from mock_server.cli import main; sys.argv[0] = 'websim-mock'; "
            "sys.exit(main())"
        )
        return [PYTHON, "-c", code, "--port", "0", *extra]
    return [PYTHON, "-m", "mock_server", "--port", "0", *extra]


def websim_mock_command() -> list[str]:
    """The installed ``websim-mock`` console script (beside this interpreter), else ``-m``."""
    script = Path(PYTHON).with_name("websim-mock")
    if script.exists():
        return [str(script)]
    found = shutil.which("websim-mock")
    return [found] if found else [PYTHON, "-m", "mock_server"]


def bare_server_argv(*extra: str) -> list[str]:
    return [PYTHON, str(BENCH_DIR / "bare_server.py"), "--port", "0", *extra]


# --- load generation -----------------------------------------------------------------------------


def wrk_path() -> str | None:
    return shutil.which("wrk")


_WRK_LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
local f = io.open("{body_file}", "rb")
wrk.body = f:read("*a")
f:close()
{fresh_ids}

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'WRKJSON {{"requests": %d, "errors": %d, "duration_s": %.6f, '
    .. '"p50_ms": %.3f, "p99_ms": %.3f, "bytes": %d}}\\n',
    summary.requests, errors, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.bytes))
end
"""


# A fresh project ID in every request, as real clients send (see id_template).
_WRK_FRESH_IDS = """\
local pieces = {{{pieces}}}
local chars = "{alphabet}"
math.randomseed(os.time())
local function run(n)
  local t = {{}}
  for i = 1, n do
    local k = math.random(1, #chars)
    t[i] = chars:sub(k, k)
  end
  return table.concat(t)
end
request = function()
  return wrk.format(nil, nil, nil, table.concat(pieces, run({left}) .. "_" .. run({right})))
end
"""


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{byte:03d}" for byte in data) + '"'


def run_load(
    url: str,
    body: bytes,
    *,
    concurrency: int,
    duration: float,
    tool: str = "auto",
    timeout: float = 10.0,
    fresh_ids: bool = True,
) -> dict[str, Any]:
    """One load run in a separate process; returns rps, p50_ms, p99_ms, errors, requests, tool.

    ``tool`` is ``wrk`` (when installed), ``python`` (bench/loadgen.py, aiohttp), or ``auto``.
    ``fresh_ids``: each request carries a fresh project ID (as real clients do) instead of
    repeating ``body`` byte for byte.
    """
    wrk = wrk_path()
    if tool == "auto":
        tool = "wrk" if wrk else "python"
    if tool == "wrk":
        if wrk is None:
            raise RuntimeError("wrk is not installed (apt-get install wrk)")
        return _run_wrk(wrk, url, body, concurrency, duration, timeout, fresh_ids)
    return _run_python_loadgen(url, body, concurrency, duration, timeout, fresh_ids)


def _run_wrk(
    wrk: str,
    url: str,
    body: bytes,
    concurrency: int,
    duration: float,
    timeout: float,
    fresh_ids: bool,
) -> dict[str, Any]:
    import tempfile

    template = id_template(body) if fresh_ids else None
    fresh = ""
    if template is not None:
        pieces, left, right = template
        fresh = _WRK_FRESH_IDS.format(
            pieces=", ".join(map(_lua_string, pieces)),
            alphabet=_ID_ALPHABET,
            left=left,
            right=right,
        )
    with tempfile.TemporaryDirectory(prefix="websim-bench-") as tmp:
        body_file = Path(tmp, "body")
        body_file.write_bytes(body)
        script = Path(tmp, "post.lua")
        script.write_text(
            _WRK_LUA.format(content_type=CONTENT_TYPE, body_file=body_file, fresh_ids=fresh)
        )
        # One wrk thread: the machine has two cores and the server under test needs one.
        argv = [
            wrk,
            "-t1",
            f"-c{concurrency}",
            f"-d{max(1, round(duration))}s",
            f"--timeout={max(1, round(timeout))}s",
            "-s",
            str(script),
            url,
        ]
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=duration + timeout + 30
        )
    for line in result.stdout.splitlines():
        if line.startswith("WRKJSON "):
            data: dict[str, Any] = json.loads(line[len("WRKJSON ") :])
            data["rps"] = data["requests"] / data["duration_s"] if data["duration_s"] else 0.0
            data["tool"] = "wrk"
            data["concurrency"] = concurrency
            return data
    raise RuntimeError(f"wrk gave no result (rc={result.returncode}): {result.stderr[-500:]}")


def _run_python_loadgen(
    url: str, body: bytes, concurrency: int, duration: float, timeout: float, fresh_ids: bool
) -> dict[str, Any]:
    argv = [
        PYTHON,
        str(BENCH_DIR / "loadgen.py"),
        url,
        "--body",
        body.decode("utf-8"),
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        "--timeout",
        str(timeout),
        *(["--fresh-ids"] if fresh_ids else []),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=duration + timeout + 60)
    if result.returncode != 0:
        raise RuntimeError(f"loadgen failed (rc={result.returncode}): {result.stderr[-500:]}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    data["tool"] = "python"
    return data


def best_of(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The run with the highest throughput: on a shared machine, noise only ever slows down."""
    best = dict(max(runs, key=lambda run: run.get("rps", 0.0)))
    best["rps_runs"] = [round(run.get("rps", 0.0), 1) for run in runs]
    cpu = [run["cpu_us_per_request"] for run in runs if "cpu_us_per_request" in run]
    if cpu:
        best["cpu_us_per_request"] = min(cpu)  # the least disturbed run
        best["cpu_runs"] = [round(value, 2) for value in cpu]
    return best
