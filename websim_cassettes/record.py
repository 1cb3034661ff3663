"""Re-record every cassette against a target (the live API or the mock), check, report drift.

Records into a temporary directory, runs the checker, prints a drift report against the
committed cassettes, and replaces them (each by an atomic rename) only with ``--accept``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

import aiohttp

from websim_core.client import WebsimClient, resolve_base_url
from websim_core.errors import InvalidRequestError
from websim_core.retry import RetryPolicy

from .check import Finding, check_cassette
from .config import cassette_dir, make_vcr
from .drift import CassetteDrift, compare_cassettes, format_report
from .files import (
    CassetteFile,
    CassetteLoadError,
    load_cassette,
    provenance,
    stage_file,
    stamp_provenance,
    write_atomic,
)
from .scenarios import SCENARIOS, Outcome, Scenario, run_scenario

__all__ = [
    "RecordOptions",
    "RecordReport",
    "ScenarioResult",
    "TargetUnreachable",
    "accept",
    "detect_target",
    "main",
    "record",
    "record_scenarios",
]

Target = Literal["mock", "live"]


class TargetUnreachable(Exception):
    """The target cannot be reached at all; the message is the one line to print."""


@dataclass(frozen=True)
class RecordOptions:
    """What ``record`` does; the CLI flags map onto these one to one."""

    base_url: str | None = None
    cassettes: Path | None = None
    only: tuple[str, ...] = ()
    target: Literal["auto", "mock", "live"] = "auto"
    accept: bool = False
    keep: Path | None = None
    connect_timeout: float = 10.0
    timeout: float = 60.0


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario's fate: recorded (with its outcome), skipped (why), or failed (why)."""

    scenario: Scenario
    status: Literal["recorded", "skipped", "failed"]
    detail: str
    interactions: int = 0


@dataclass(frozen=True)
class RecordReport:
    """Everything a recording run produced."""

    target: Target
    base_url: str
    directory: Path
    results: list[ScenarioResult]
    findings: list[Finding]
    drifts: list[CassetteDrift]

    @property
    def failed(self) -> list[ScenarioResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.findings


async def detect_target(base_url: str, *, connect_timeout: float = 10.0) -> Target:
    """``"mock"`` when the base URL answers the mock's admin API, else ``"live"``.

    Raises ``TargetUnreachable`` when nothing answers at all (DNS, refused, timeout).
    """
    timeout = aiohttp.ClientTimeout(total=connect_timeout * 2, sock_connect=connect_timeout)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(base_url + "/__admin/requests") as response,
        ):
            body = await response.read()
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise TargetUnreachable(f"cannot reach {base_url}: {reason}") from None
    if response.status == 200:
        with contextlib.suppress(ValueError):
            if isinstance(json.loads(body), (dict, list)):
                return "mock"
    return "live"


async def _admin(session: aiohttp.ClientSession, base_url: str, path: str, payload: Any) -> None:
    async with session.post(base_url + path, json=payload) as response:
        if response.status >= 300:
            text = (await response.text())[:200]
            raise RuntimeError(f"mock admin {path} answered {response.status}: {text}")


async def _record_one(
    scenario: Scenario, base_url: str, target: Target, directory: Path, timeout: float
) -> ScenarioResult:
    if target == "live" and not scenario.live:
        return ScenarioResult(
            scenario,
            "skipped",
            "its answer must be arranged, and the live API cannot be told what to answer",
        )
    arranged = scenario.mock_script if target == "mock" else None
    async with aiohttp.ClientSession() as admin:
        if arranged is not None:
            await _admin(admin, base_url, "/__admin/reset", {})
            await _admin(
                admin,
                base_url,
                "/__admin/scenarios",
                {"endpoint": scenario.endpoint, "responses": arranged},
            )
        block = provenance(
            recorded_against=target,
            base_url=base_url,
            scenario=scenario.name,
            description=scenario.description,
        )
        if arranged is not None:
            block["arranged"] = {"endpoint": scenario.endpoint, "responses": arranged}
        delays: list[float] = []

        async def sleep(delay: float) -> None:
            delays.append(delay)

        vcr = make_vcr(record_mode="all", cassette_library_dir=directory)
        path = directory / scenario.cassette
        with vcr.use_cassette(scenario.cassette) as cassette:
            retry = RetryPolicy(sleep=sleep)
            async with WebsimClient(base_url, timeout=timeout, retry=retry) as client:
                outcome: Outcome = await run_scenario(scenario, client, delays)
            count = len(cassette.data)
        if arranged is not None:
            await _admin(admin, base_url, "/__admin/reset", {})
    if path.is_file():
        stamp_provenance(path, block)
    problem = scenario.expect(outcome)
    if count == 0 or not path.is_file():
        return ScenarioResult(scenario, "failed", f"nothing was recorded ({outcome.describe()})")
    if problem is not None:
        return ScenarioResult(scenario, "failed", problem, count)
    return ScenarioResult(scenario, "recorded", outcome.describe(), count)


async def record_scenarios(
    scenarios: Sequence[Scenario],
    base_url: str,
    target: Target,
    directory: Path,
    *,
    timeout: float = 60.0,
    progress: TextIO | None = None,
) -> list[ScenarioResult]:
    """Record each scenario into ``directory`` in turn, printing one progress line each."""
    results = []
    total = len(scenarios)
    width = len(str(total))
    for number, scenario in enumerate(scenarios, start=1):
        if progress is not None:
            print(f"[{number:>{width}}/{total}] {scenario.cassette} ...", end="", file=progress)
            progress.flush()
        try:
            result = await _record_one(scenario, base_url, target, directory, timeout)
        except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError, OSError) as exc:
            result = ScenarioResult(scenario, "failed", f"{type(exc).__name__}: {exc}")
        results.append(result)
        if progress is not None:
            extra = f", {result.interactions} interaction(s)" if result.interactions else ""
            print(f" {result.status}{extra}: {result.detail}", file=progress)
            progress.flush()
    return results


def _load(path: Path) -> CassetteFile | CassetteLoadError:
    try:
        return load_cassette(path)
    except CassetteLoadError as exc:
        return exc


def _drifts(
    results: Sequence[ScenarioResult],
    new_dir: Path,
    committed: Path,
    loaded: dict[str, CassetteFile | CassetteLoadError],
) -> list[CassetteDrift]:
    """Drift of each scenario's cassette; ``loaded`` holds new files already loaded, by name."""
    drifts = []
    for result in results:
        name = result.scenario.cassette
        if result.status == "skipped":
            drifts.append(CassetteDrift(name, note=f"skipped: {result.detail}"))
            continue
        old = new = None
        with contextlib.suppress(CassetteLoadError):
            old = load_cassette(committed / name) if (committed / name).exists() else None
        if name in loaded:
            found = loaded[name]
            new = found if isinstance(found, CassetteFile) else None
        else:
            with contextlib.suppress(CassetteLoadError):
                new = load_cassette(new_dir / name) if (new_dir / name).exists() else None
        drifts.append(compare_cassettes(name, old, new))
    return drifts


def accept(report: RecordReport, committed: Path) -> list[Path]:
    """Replace committed cassettes by the recorded ones; each file by one atomic rename.

    All new files are staged (written and synced) next to their destinations first; only
    when every one is staged are they renamed into place, so a failure while staging leaves
    the committed cassettes untouched.
    """
    recorded = [r.scenario.cassette for r in report.results if r.status == "recorded"]
    staged: list[tuple[Path, Path]] = []
    committed.mkdir(parents=True, exist_ok=True)
    try:
        for name in recorded:
            text = (report.directory / name).read_text(encoding="utf-8")
            staged.append((stage_file(committed / name, text), committed / name))
    except BaseException:
        for tmp, _dest in staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise
    for tmp, dest in staged:
        os.replace(tmp, dest)
    return [dest for _tmp, dest in staged]


async def record(options: RecordOptions, *, out: TextIO, err: TextIO) -> int:
    """The ``record`` command: 0 all recorded and clean, 1 failures or findings, 2 unreachable."""
    try:
        base_url = resolve_base_url(options.base_url)
    except InvalidRequestError as exc:
        print(f"websim-cassettes record: {exc}", file=err)
        return 2
    committed = cassette_dir(options.cassettes)
    try:
        chosen = _choose(options.only)
    except KeyError as exc:
        print(f"websim-cassettes record: {exc.args[0]}", file=err)
        return 2
    try:
        found = await detect_target(base_url, connect_timeout=options.connect_timeout)
    except TargetUnreachable as exc:
        print(f"websim-cassettes record: {exc}; nothing recorded, cassettes untouched", file=err)
        return 2
    target: Target = found if options.target == "auto" else options.target
    print(f"Recording {len(chosen)} cassette(s) against {base_url} ({target}) ...", file=err)
    directory = Path(tempfile.mkdtemp(prefix="websim-record-"))
    try:
        results = await record_scenarios(
            chosen, base_url, target, directory, timeout=options.timeout, progress=err
        )
        report = _report(target, base_url, directory, results, committed)
        return _conclude(report, options, committed, out)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _report(
    target: Target,
    base_url: str,
    directory: Path,
    results: list[ScenarioResult],
    committed: Path,
) -> RecordReport:
    """The checker's findings and the drift report over what was recorded into ``directory``."""
    # Each recorded file is loaded once, for both the checker and the drift report.
    recorded = [r.scenario.cassette for r in results if r.status == "recorded"]
    loaded = {name: _load(directory / name) for name in recorded}
    # Strict IDs: these requests come from websim_core's client, which sends canonical IDs;
    # provenance required: the recorder stamps every cassette it writes.
    findings = [
        finding
        for name in recorded
        for finding in check_cassette(
            loaded[name], os.fspath(directory / name), strict_ids=True, require_provenance=True
        )
    ]
    drifts = _drifts(results, directory, committed, loaded)
    return RecordReport(target, base_url, directory, results, findings, drifts)


def _conclude(report: RecordReport, options: RecordOptions, committed: Path, out: TextIO) -> int:
    """Print the findings, drift and failures; keep or accept the recordings as asked."""
    for finding in report.findings:
        print(finding.line(), file=out)
    print(format_report(report.drifts), file=out)
    for failed in report.failed:
        print(f"FAILED {failed.scenario.cassette}: {failed.detail}", file=out)
    if options.keep is not None:
        _copy_all(report.directory, options.keep)
    if options.accept:
        if not report.ok:
            print("Not accepted: fix the failures and findings above first.", file=out)
            return 1
        replaced = accept(report, committed)
        print(f"Accepted: {len(replaced)} cassette(s) replaced in {committed}.", file=out)
    elif report.ok:
        print(
            f"Committed cassettes in {committed} left as they are (--accept replaces them).",
            file=out,
        )
    return 0 if report.ok else 1


def _copy_all(source: Path, destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.yaml"):
        write_atomic(destination / path.name, path.read_text(encoding="utf-8"))


def _choose(only: Sequence[str]) -> list[Scenario]:
    if not only:
        return list(SCENARIOS)
    from .scenarios import scenario_by_name

    return [scenario_by_name(name) for name in only]


def main(options: RecordOptions) -> int:
    return asyncio.run(record(options, out=sys.stdout, err=sys.stderr))
