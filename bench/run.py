"""Run the benchmarks side by side, print one table of numbers and ratios, write it as JSON.

``python bench/run.py [--quick] [--parts http,client,sse,replay,startup,suite] ...``
(``tox -e bench -- --quick``). Absolute numbers on a shared machine are noise: every target is
a ratio between two things measured in the same run, and each load run is repeated with the
servers taken in rotating order, keeping the best (noise only ever slows a run down).
Results go to ``bench/results/latest.json`` (untracked) and a time-stamped copy beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import client_overhead
import sse_decoder
import startup
import suite_time
import wiremock
from _common import (
    BENCH_DIR,
    CHAT_PATH,
    PYTHON,
    ROOT,
    SCENARIOS,
    ServerProcess,
    bare_server_argv,
    best_of,
    cpu_seconds,
    mock_server_argv,
    mock_server_available,
    mock_server_help,
    run_load,
    wait_http_ok,
    wrk_path,
)
from _common import (
    scenario as scenario_body,
)

PARTS = ("http", "client", "sse", "replay", "startup", "suite")
RESULTS_DIR = BENCH_DIR / "results"


# --- throughput and latency ------------------------------------------------------------------


def probe_mock(url: str) -> tuple[str, bytes]:
    """The mock server's chat answer and stream bytes, so the baselines answer the same."""
    from _common import http_post

    status, _, body = http_post(url + CHAT_PATH, SCENARIOS["chat"][1])
    if status != 200:
        raise RuntimeError(f"mock chat answered {status}: {body[:200]!r}")
    content = json.loads(body)["content"]
    status, content_type, frames = http_post(url + CHAT_PATH, SCENARIOS["stream"][1])
    if status != 200 or not content_type.startswith("text/event-stream"):
        raise RuntimeError(f"mock stream answered {status} {content_type}: {frames[:200]!r}")
    return str(content), frames


def part_http(args: argparse.Namespace, notes: list[str]) -> dict[str, Any]:
    if args.loadgen_used == "python":
        notes.append(
            "load from bench/loadgen.py (aiohttp): at 64+ connections it is often the bottleneck "
            "itself, which pulls every ratio towards 1; install wrk for sharper numbers"
        )
    result: dict[str, Any] = {
        "loadgen": args.loadgen_used,
        "bodies": args.bodies,
        "servers": {},
        "runs": {},
    }
    with contextlib.ExitStack() as stack:
        servers: dict[str, ServerProcess] = {}

        def start(name: str, server: ServerProcess, description: str) -> None:
            servers[name] = stack.enter_context(server)
            result["servers"][name] = description

        content, frames = "Hello! I am a mock Websim model. How can I help you today?", b""
        if args.mock:
            mock = ServerProcess(mock_server_argv(*args.mock_args))
            start("mock", mock, "python -m mock_server --port 0 " + " ".join(args.mock_args))
            assert mock.url is not None
            content, frames = probe_mock(mock.url)
            if args.uvloop:
                argv = mock_server_argv(*args.mock_args, uvloop=True)
                start("mock+uvloop", ServerProcess(argv), "mock_server under uvloop.install()")
            if args.workers > 1:
                if "--workers" in mock_server_help():
                    extra = [*args.mock_args, "--workers", str(args.workers)]
                    start(
                        f"mock-w{args.workers}",
                        ServerProcess(mock_server_argv(*extra)),
                        "python -m mock_server --port 0 " + " ".join(extra),
                    )
                else:
                    notes.append(
                        "mock_server has no --workers option yet: the WireMock comparison "
                        "uses the single-process mock server"
                    )
        else:
            notes.append("mock_server is not importable yet: only the baselines were measured")
        events = max(1, frames.count(b"\n\n") - 1) if frames else 8
        start(
            "bare",
            ServerProcess(bare_server_argv("--content", content, "--events", str(events))),
            f"bench/bare_server.py (same answer, {events} stream events)",
        )
        start(
            "bare-quote",
            ServerProcess(bare_server_argv("--events", str(events), "--quote")),
            "bench/bare_server.py --quote (parses each body, quotes the last user message into"
            " its answer: equal work)",
        )
        if args.compare_mock is not None:
            argv = mock_server_argv(*args.mock_args)
            env = {**os.environ, "PYTHONPATH": str(args.compare_mock)}
            start(
                "mock-other",
                ServerProcess(argv, cwd=args.compare_mock, env=env),
                f"python -m mock_server from {args.compare_mock} (--compare-mock)",
            )
        if args.wiremock:
            jar, why = wiremock.availability()
            if jar is None:
                notes.append(f"WireMock skipped: {why}")
            else:
                stream_bytes = frames or (
                    b'data: {"content": "' + content.encode() + b'"}\n\ndata: [DONE]\n\n'
                )
                server = wiremock.WireMockServer(
                    jar, content=content, frames=stream_bytes, journal_entries=args.wm_journal
                )
                start("wiremock", server, f"WireMock standalone ({jar.name})")
        else:
            notes.append("WireMock skipped (--no-wiremock)")

        for server in servers.values():
            assert server.url is not None
            wait_http_ok(server.url + "/healthz")
        # Warm-up: the JVM needs seconds of traffic before its JIT settles; the Python servers
        # get a short run too, so every server is measured warm. WireMock's journal is emptied
        # before each measured run: unbounded by default, it would slow it down run after run
        # (ours keeps the last 10,000 requests), and the target is WireMock at its best.
        for scenario in args.scenarios:
            path, body = scenario_body(scenario, args.bodies)
            for name, server in servers.items():
                seconds = args.wm_warmup if name == "wiremock" else 1.0
                run_load(
                    server.url + path,
                    body,
                    concurrency=64,
                    duration=seconds,
                    tool=args.loadgen,
                    fresh_ids=args.fresh_ids,
                )

        def measure(label: str, names: list[str], path: str, body: bytes, concurrency: int) -> None:
            """One cell: ``args.repeats`` load runs per server, in rotating order; best kept."""
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
            for repeat in range(args.repeats):
                shift = repeat % len(names)
                for name in names[shift:] + names[:shift]:
                    server = servers[name]
                    if isinstance(server, wiremock.WireMockServer):
                        server.reset_journal()  # each run starts from an empty journal
                    cpu_before = cpu_seconds(server.pid)
                    run = run_load(
                        str(server.url) + path,
                        body,
                        concurrency=concurrency,
                        duration=args.duration,
                        tool=args.loadgen,
                        fresh_ids=args.fresh_ids,
                    )
                    cpu = cpu_seconds(server.pid) - cpu_before
                    run["cpu_us_per_request"] = cpu / max(1, run["requests"]) * 1e6
                    runs[name].append(run)
            cell = {name: best_of(name_runs) for name, name_runs in runs.items()}
            result["runs"].setdefault(label, {})[str(concurrency)] = cell
            line = "  ".join(f"{name} {run['rps']:,.0f}" for name, run in cell.items())
            print(f"  {label:6} c={concurrency:<3} {line}", flush=True)

        for scenario in args.scenarios:
            path, body = scenario_body(scenario, args.bodies)
            for concurrency in args.concurrency:
                measure(scenario, list(servers), path, body, concurrency)
        if "chat" in args.scenarios and args.bodies == "fresh" and "mock" in servers:
            # Context for the chat target: the same cell when no two requests share a
            # conversation, so the mock generates every answer (no answer cache helps).
            varied = ["mock", "bare", "bare-quote"]
            if "mock-other" in servers:
                varied.append("mock-other")
            measure("chat-varied", varied, *scenario_body("chat", "varied"), 64)
        for name, server in servers.items():
            if server.proc is not None and server.proc.poll() is not None:
                notes.append(f"{name} exited during the run: {server.output[-3:]}")
    return result


# --- the other parts -------------------------------------------------------------------------


def part_client(args: argparse.Namespace, notes: list[str]) -> dict[str, Any]:
    import asyncio

    argv = mock_server_argv(*args.mock_args) if args.mock else bare_server_argv()
    with ServerProcess(argv) as server:
        assert server.url is not None
        wait_http_ok(server.url + "/healthz")
        rounds = 6 if args.quick else 12
        result = asyncio.run(client_overhead.bench(server.url, calls=200, rounds=rounds))
    result["server"] = "mock_server" if args.mock else "bench/bare_server.py"
    if not args.mock:
        notes.append("client overhead measured against the bare server (no mock_server yet)")
    return result


def part_sse(args: argparse.Namespace, notes: list[str]) -> dict[str, Any]:
    result = sse_decoder.bench(events=2000, repeats=5 if args.quick else 9)
    if "skipped" in result:
        notes.append(f"SSE decoder: {result['skipped']}")
    return result


def part_replay(args: argparse.Namespace, notes: list[str]) -> dict[str, Any]:
    script = BENCH_DIR / "replay.py"
    if not script.exists():
        why = "bench/replay.py is not there yet (cassette replay is another issue)"
        notes.append(f"replay skipped: {why}")
        return {"skipped": why}
    argv = [PYTHON, str(script), *(["--quick"] if args.quick else [])]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        notes.append(f"bench/replay.py failed (rc={proc.returncode})")
        return {"error": proc.stderr[-2000:], "returncode": proc.returncode}
    parsed = _last_json(proc.stdout)
    if parsed is None:
        notes.append("bench/replay.py printed no JSON; its output is kept as text")
        return {"output": proc.stdout[-4000:]}
    return parsed


def _last_json(text: str) -> Any:
    with contextlib.suppress(ValueError):
        return json.loads(text)
    for line in reversed(text.strip().splitlines()):
        with contextlib.suppress(ValueError):
            return json.loads(line)
    start = text.find("{")
    if start >= 0:
        with contextlib.suppress(ValueError):
            return json.loads(text[start:])
    return None


def part_startup(args: argparse.Namespace, notes: list[str]) -> dict[str, Any]:
    return startup.bench(
        starts=3 if args.quick else 5,
        load_duration=args.duration,
        tool=args.loadgen,
        mock=args.mock,
    )


def part_suite(args: argparse.Namespace, notes: list[str]) -> dict[str, Any]:
    result = suite_time.bench()
    if "skipped" in result:
        notes.append(f"suite: {result['skipped']}")
    return result


PART_FUNCTIONS: dict[str, Callable[[argparse.Namespace, list[str]], dict[str, Any]]] = {
    "http": part_http,
    "client": part_client,
    "sse": part_sse,
    "replay": part_replay,
    "startup": part_startup,
    "suite": part_suite,
}


# --- targets and the table -------------------------------------------------------------------


def _paired(
    results: dict[str, Any], scenario: str, concurrency: int, a: str, b: str, key: str = "rps"
) -> float | None:
    """a / b for one cell: the median of the ratios of runs taken back to back (repeat i of a
    against repeat i of b), which a burst of outside load skews less than best against best."""
    cell = results.get("http", {}).get("runs", {}).get(scenario, {}).get(str(concurrency), {})
    if a not in cell or b not in cell:
        return None
    runs_a, runs_b = cell[a].get(f"{key}_runs") or [], cell[b].get(f"{key}_runs") or []
    ratios = [x / y for x, y in zip(runs_a, runs_b, strict=False) if x and y]
    return statistics.median(ratios) if ratios else None


def targets(results: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each target: what, measured ratio (or value), the bound, met (None: not measured)."""
    rows: list[dict[str, Any]] = []

    def add(
        what: str, value: float | None, bound: str, test: Callable[[float], bool], where: str
    ) -> None:
        met = None if value is None else test(value)
        rows.append({"target": what, "value": value, "bound": bound, "met": met, "where": where})

    for concurrency in args.concurrency:
        ratio = _paired(results, "chat", concurrency, "mock", "bare")
        add(
            f"chat rps, mock (journal on) / bare aiohttp, c={concurrency}",
            ratio,
            ">= 0.9",
            lambda v: v >= 0.9,
            "http",
        )
    add(
        "chat rps c=64, mock / bare aiohttp quoting the last user message (equal work)",
        _paired(results, "chat", 64, "mock", "bare-quote"),
        ">= 0.9",
        lambda v: v >= 0.9,
        "http",
    )
    add(
        "(context) chat rps c=64, mock / the --compare-mock checkout's mock",
        _paired(results, "chat", 64, "mock", "mock-other"),
        "(none)",
        lambda v: True,
        "http",
    )
    http = results.get("http", {})
    add(
        "(context) chat CPU per request c=64, bare / mock: the same 0.9 read as efficiency",
        _paired(results, "chat", 64, "bare", "mock", key="cpu"),
        ">= 0.9",
        lambda v: v >= 0.9,
        "http",
    )
    add(
        "(context) chat rps c=64, a new conversation in every request, mock / bare-quote",
        _paired(results, "chat-varied", 64, "mock", "bare-quote"),
        "(none)",
        lambda v: True,
        "http",
    )
    workers = next((name for name in http.get("servers", {}) if name.startswith("mock-w")), None)
    mine = workers or "mock"
    add(
        f"chat rps c=64, {mine} / warmed WireMock",
        _paired(results, "chat", 64, mine, "wiremock"),
        ">= 1.0",
        lambda v: v >= 1.0,
        "http",
    )
    add(
        "WebsimClient.chat time / raw aiohttp post+json()",
        results.get("client", {}).get("ratio"),
        "<= 1.15",
        lambda v: v <= 1.15,
        "client",
    )
    add(
        "SSE decoder speed / httpx-sse (worst chunking)",
        results.get("sse", {}).get("ratio_min"),
        ">= 1.0",
        lambda v: v >= 1.0,
        "sse",
    )
    replay = results.get("replay", {})
    for key, bound, test in (
        ("flatness_2000_vs_100", "<= 1.5 (flat)", lambda v: v <= 1.5),
        ("speedup_vs_vcrpy_2000", ">= 100", lambda v: v >= 100),
    ):
        value = replay.get(key) if isinstance(replay, dict) else None
        add(f"replay {key}", value, bound, test, "replay")
    add(
        "websim-mock start-up to /healthz (s, median)",
        results.get("startup", {}).get("mock", {}).get("median_s"),
        "<= 1.0",
        lambda v: v <= 1.0,
        "startup",
    )
    suite = results.get("suite", {})
    add(
        "offline suite wall time (s)",
        suite.get("wall_s"),
        "<= 120",
        lambda v: v <= 120 and suite.get("returncode") == 0,
        "suite",
    )
    return rows


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def render(results: dict[str, Any], rows: list[dict[str, Any]], notes: list[str]) -> str:
    out: list[str] = []
    http = results.get("http")
    if http and http.get("runs"):
        out.append(
            f"Throughput and latency (load generator: {http['loadgen']}, {http['bodies']} "
            "project IDs, best of repeats; CPU = the server's own CPU time per request)"
        )
        out.append(
            f"{'scenario':8} {'conc':>4}  {'server':12} {'req/s':>9} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'errors':>6} {'x bare':>7} {'cpu us/req':>10} {'bare/cpu':>8}"
        )
        for scenario, by_conc in http["runs"].items():
            for concurrency, cell in by_conc.items():
                bare = cell.get("bare", {})
                for name, run in cell.items():
                    ratio = run["rps"] / bare["rps"] if bare.get("rps") else None
                    cpu = run.get("cpu_us_per_request")
                    cpu_ratio = bare["cpu_us_per_request"] / cpu if cpu and bare else None
                    out.append(
                        f"{scenario:8} {concurrency:>4}  {name:12} {run['rps']:>9,.0f} "
                        f"{run['p50_ms']:>8.2f} {run['p99_ms']:>8.2f} {run['errors']:>6} "
                        f"{_fmt(ratio):>7} {_fmt(cpu, 1):>10} {_fmt(cpu_ratio):>8}"
                    )
        out.append("")
    client = results.get("client")
    if client and "ratio" in client:
        out.append(
            f"Client overhead ({client['server']}): WebsimClient.chat "
            f"{client['client_us']:.0f} us/call, raw aiohttp (same request bytes) "
            f"{client['raw_us']:.0f} us/call (best rounds): ratio {client['ratio']:.3f} (median "
            f"of paired rounds; best/best {client['ratio_best']:.3f}); raw with aiohttp's default headers "
            f"{client['raw_minimal_us']:.0f} us/call: ratio {client['ratio_vs_minimal']:.3f}; "
            f"client-side CPU {client['client_cpu_us']:.0f} vs {client['raw_cpu_us']:.0f} us/call: "
            f"ratio {client['ratio_cpu']:.3f}"
        )
    sse = results.get("sse")
    if sse and "chunkings" in sse:
        out.append(f"SSE decoding ({sse['stream_bytes']:,} bytes, {sse['events']} events), MB/s:")
        for chunking, row in sse["chunkings"].items():
            speeds = ", ".join(
                f"{name} {row[name]['mb_per_s']:.1f}"
                for name in ("websim_core", "httpx-sse", "httpx-sse+httpx")
            )
            out.append(
                f"  {chunking:9} {speeds}; ratio {row['ratio_vs_httpx_sse']:.2f} "
                f"(vs +httpx {row['ratio_vs_httpx_sse_response']:.2f})"
            )
    start = results.get("startup")
    if start and "bare" in start:
        out.append(f"Start-up to /healthz (median): python -c pass {start['python_floor_s']:.3f} s")
        for name in ("bare", "mock"):
            if name in start:
                row = start[name]
                out.append(
                    f"  {name:5} {row['median_s']:.3f} s (best {row['best_s']:.3f}); RSS rest "
                    f"{row['rss_rest_mib']:.1f} MiB, c=256 peak {row['rss_c256_mib']:.1f} MiB "
                    f"({row['c256_rps']:,.0f} req/s, {row['c256_errors']} errors)"
                )
    suite = results.get("suite")
    if suite and "wall_s" in suite:
        out.append(
            f"Offline suite: {suite['wall_s']:.1f} s, rc={suite['returncode']}, "
            f"{suite.get('summary', '')}"
        )
    replay = results.get("replay")
    if replay and isinstance(replay.get("per_request_s"), dict):
        out.append("Cassette replay, time per request (bench/replay.py):")
        for size, row in replay["per_request_s"].items():
            cells = ", ".join(f"{key[:-2]} {value * 1e6:,.1f} us" for key, value in row.items())
            out.append(f"  {int(size):>6,} interactions: {cells}")
    elif replay and "skipped" not in replay:
        out.append("Replay: " + json.dumps(replay)[:600])
    out.append("")
    out.append(
        "Targets (ratios measured side by side in this run; each the median of the ratios of "
        "runs taken back to back)"
    )
    for row in rows:
        mark = {True: "MET", False: "MISSED", None: "not measured"}[row["met"]]
        if row["bound"] == "(none)":
            mark = "context" if row["value"] is not None else mark
        out.append(
            f"  [{mark:>12}] {row['target']}: {_fmt(row['value'], 3)} (target {row['bound']})"
        )
    if notes:
        out.append("")
        out.append("Notes")
        out.extend(f"  - {note}" for note in notes)
    return "\n".join(out)


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated, from {','.join(PARTS)} (default: all; --quick drops suite)",
    )
    parser.add_argument("--quick", action="store_true", help="1 s runs, one repeat, no suite")
    parser.add_argument("--duration", type=float, help="seconds per load run (default 2)")
    parser.add_argument("--repeats", type=int, help="load runs per server and cell (default 2)")
    parser.add_argument("--concurrency", default="1,64,256")
    parser.add_argument("--scenarios", default="chat,stream,image")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--bodies",
        choices=("fresh", "varied", "fixed"),
        default="fresh",
        help=(
            "fresh: a new project_id in every request, as real clients send (default); "
            "varied: that ID also in the user message or prompt, so no two requests share a "
            "conversation (no answer cache helps); "
            "fixed: the same body byte for byte (flatters servers that cache by body)"
        ),
    )
    parser.add_argument("--workers", type=int, default=2, help="for mock --workers N (if any)")
    parser.add_argument(
        "--mock-args", default="", help="extra arguments for the mock server (one string)"
    )
    parser.add_argument(
        "--compare-mock",
        type=Path,
        default=None,
        metavar="DIR",
        help="also measure the mock server of another checkout (e.g. a git worktree of an"
        " earlier commit), as 'mock-other', in the same runs",
    )
    parser.add_argument("--no-wiremock", dest="wiremock", action="store_false")
    parser.add_argument(
        "--wm-warmup", type=float, help="seconds of WireMock warm-up per scenario (default 5)"
    )
    parser.add_argument(
        "--wm-journal",
        type=int,
        default=None,
        help=(
            "WireMock --max-request-journal-entries (default: WireMock's own, unbounded; a "
            "bound makes WireMock 3.13 several times slower, so the default is its best case)"
        ),
    )
    parser.add_argument(
        "--uvloop", action="store_true", help="also measure the mock server under uvloop"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json")
    args = parser.parse_args(argv)
    explicit_parts = "--parts" in " ".join(argv or sys.argv[1:])
    args.parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if args.quick and not explicit_parts:
        args.parts = [part for part in args.parts if part != "suite"]
    args.duration = args.duration or (1.0 if args.quick else 2.0)
    args.duration = min(args.duration, 60.0)
    args.repeats = max(1, min(args.repeats or (1 if args.quick else 2), 10))
    args.wm_warmup = args.wm_warmup if args.wm_warmup is not None else (3.0 if args.quick else 5.0)
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for scenario in args.scenarios:
        if scenario not in SCENARIOS:
            parser.error(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    args.mock_args = args.mock_args.split()
    args.fresh_ids = args.bodies != "fixed"
    if args.loadgen == "wrk" and wrk_path() is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    args.loadgen_used = "wrk" if (args.loadgen != "python" and wrk_path()) else "python"
    return args


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import aiohttp

    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.mock = mock_server_available()
    notes: list[str] = []
    if args.uvloop:
        try:
            import uvloop  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            notes.append("uvloop not installed: pip install 'websim-harness[uvloop]'")
            args.uvloop = False
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "options": {
            key: value
            for key, value in vars(args).items()
            if key not in {"output"} and not callable(value)
        },
    }
    started = time.perf_counter()
    for part in args.parts:
        print(f"== {part}", flush=True)
        part_started = time.perf_counter()
        try:
            results[part] = PART_FUNCTIONS[part](args, notes)
        except Exception as exc:  # one broken part must not lose the others' numbers
            traceback.print_exc()
            results[part] = {"error": f"{type(exc).__name__}: {exc}"}
            notes.append(f"{part} failed: {type(exc).__name__}: {exc}")
        results.setdefault(part, {})["elapsed_s"] = round(time.perf_counter() - part_started, 1)
    rows = targets(results, args)
    results["targets"] = rows
    results["notes"] = notes
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    print()
    print(render(results, rows, notes))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, default=str)
    args.output.write_text(text)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (args.output.parent / f"run-{stamp}.json").write_text(text)
    print(f"\nwrote {args.output} ({results['elapsed_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
