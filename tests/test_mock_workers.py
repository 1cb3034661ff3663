"""``websim-mock --workers N``: one port, N processes, stated limits enforced, clean shutdown."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import first_line

from mock_server import MockConfig, MockState, chat_reply, create_app
from mock_server.web.openapi import openapi_spec
from mock_server.workers import WorkerSpec, unsupported
from websim_core.routing import CHAT_PATH

pytestmark = pytest.mark.skipif(unsupported() is not None, reason=str(unsupported()))

HELLO = [{"role": "user", "content": "Hello, how are you?"}]


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out.extend(int(p) for p in (task / "children").read_text().split())
    return out


def _running(pid: int) -> bool:
    """True unless the process is gone or a zombie (exited, not yet reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_running(pid) for pid in pids):
            return True
        time.sleep(0.02)
    return False


def _call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # a new connection each
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Started:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url
        self.workers = _children(proc.pid)


@pytest.fixture
def two_workers() -> Iterator[Started]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--workers", "2", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = first_line(proc.stdout)
        match = re.fullmatch(r"websim mock server listening on (http://\S+) \(2 workers\)\n", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        yield Started(proc, match[1])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def test_two_workers_answer_on_one_port_and_stop_cleanly(two_workers: Started) -> None:
    url, workers = two_workers.url, two_workers.workers
    assert len(workers) == 2
    seen = set()
    for _ in range(200):  # a new connection each time: the kernel picks the worker
        status, health = _call(url + "/healthz")
        assert status == 200
        assert health["status"] == "ok"
        assert health["workers"] == 2
        seen.add(health["worker"])
        if seen == {0, 1}:
            break
    assert seen == {0, 1}
    body = {"project_id": "ke3_xh5gai3gjkmruomu", "messages": HELLO}
    for _ in range(4):  # the same answer whichever worker: it depends on the seed only
        assert _call(url + CHAT_PATH, "POST", body) == (200, {"content": chat_reply(3, HELLO)})

    two_workers.proc.send_signal(signal.SIGTERM)
    assert two_workers.proc.wait(10) == 0
    assert _wait_gone(workers)


def test_stateful_admin_endpoints_answer_409_naming_the_limit(two_workers: Started) -> None:
    url = two_workers.url
    for method, path, body in (
        ("GET", "/__admin/requests", None),
        ("POST", "/__admin/reset", None),
        ("GET", "/__admin/scenarios", None),
        ("POST", "/__admin/scenarios", {"endpoint": "chat", "responses": [429]}),
    ):
        status, answer = _call(url + path, method, body)
        assert status == 409, (method, path)
        assert answer["field"] == "workers"
        assert "need --workers 1" in answer["message"]
        assert "runs 2 workers" in answer["message"]
    # Nothing was scripted: the next chat gets a normal answer.
    body = {"project_id": "p", "messages": HELLO}
    assert _call(url + CHAT_PATH, "POST", body)[0] == 200


def test_a_second_server_on_the_port_refuses_as_a_single_process_does(
    two_workers: Started,
) -> None:
    port = two_workers.url.rsplit(":", 1)[1]
    for workers in ("2", "1"):
        result = subprocess.run(
            [sys.executable, "-m", "mock_server", "--port", port, "--workers", workers],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 1, workers
        said = f"websim-mock: error: cannot listen on 127.0.0.1:{port}: "
        assert result.stderr.startswith(said), workers
        assert "address already in use" in result.stderr.lower()
        assert result.stdout == ""


def test_workers_stop_when_their_parent_dies(two_workers: Started) -> None:
    workers = two_workers.workers
    assert all(_running(pid) for pid in workers)
    os.kill(two_workers.proc.pid, signal.SIGKILL)
    assert _wait_gone(workers)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "2", "--cassettes", "cassettes"], "not cassettes"),
        (["--workers", "0"], "must be an integer 1..64"),
        (["--workers", "2", "--latency-ms", "90000"], "--latency-ms: must be <="),
    ],
)
def test_bad_worker_options_are_one_error_line(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mock_server", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_help_states_the_limits() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mock_server", "--help"], capture_output=True, text=True, timeout=30
    )
    text = " ".join(result.stdout.split())
    assert "--workers N" in text
    assert "admin API answers 409" in text
    assert "rate/N" in text
    assert "--worker-of" not in text  # internal


# --- what a worker's state does ---------------------------------------------------------------


def test_a_workers_state_states_its_limits() -> None:
    one = MockState(MockConfig(rate_limit="10/s", rate_burst=5, chaos=0.5, seed=7))
    second = MockState(
        MockConfig(rate_limit="10/s", rate_burst=5, chaos=0.5, seed=7, workers=2, worker=1)
    )
    assert one.journal.maxlen == 10_000
    assert second.journal.maxlen == 0  # nobody could read it
    assert one.limiter is not None
    assert second.limiter is not None
    assert (second.limiter.rate, second.limiter.burst) == (5.0, 3)
    draws = [[state.chaos.draw() for _ in range(40)] for state in (one, second) if state.chaos]
    assert draws[0] != draws[1]  # seeded per worker
    first = MockState(MockConfig(chaos=0.5, seed=7, workers=2, worker=0))
    assert first.chaos is not None
    assert [first.chaos.draw() for _ in range(40)] == draws[0]  # worker 0: as one process
    with pytest.raises(ValueError, match="invalid worker: must be"):
        MockConfig(workers=2, worker=2)
    with pytest.raises(ValueError, match="invalid workers: must be"):
        MockConfig(workers=0)
    create_app(workers=3, worker=2)


def test_worker_spec_round_trips() -> None:
    spec = WorkerSpec(1, 2, 5, 8, 9)
    assert WorkerSpec.parse(str(spec)) == spec
    for bad in ("1/2:5:8", "2/2:5:8:9", "x/2:5:8:9"):
        with pytest.raises(ValueError, match="bad worker spec"):
            WorkerSpec.parse(bad)


def test_openapi_states_the_409() -> None:
    paths = openapi_spec("x", MockConfig(workers=2))["paths"]
    for path, method in (
        ("/__admin/requests", "get"),
        ("/__admin/reset", "post"),
        ("/__admin/scenarios", "get"),
        ("/__admin/scenarios", "post"),
    ):
        assert "--workers" in paths[path][method]["responses"]["409"]["description"]
    assert "worker" in json.dumps(paths["/healthz"])
