"""pytest glue for Websim cassettes (pytest-recording): config fixtures, matcher, use checks.

Enable in the root ``conftest.py``: ``pytest_plugins = ["websim_cassettes.pytest_plugin"]``.
Then ``@pytest.mark.vcr`` + ``@pytest.mark.default_cassette("chat_basic.yaml")`` replays
``cassettes/chat_basic.yaml``; a test that leaves recorded interactions unplayed errors, and
in a whole-suite run every cassette no test uses fails as its own item.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from .config import cassette_dir, register_matchers, vcr_config_for_pytest
from .files import cassette_paths

__all__ = [
    "UnusedCassette",
    "UnusedCassetteError",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_recording_configure",
    "referenced_cassettes",
    "vcr_cassette_dir",
    "vcr_config",
    "websim_cassette_fully_played",
]

_INI_UNUSED = "websim_unused_cassettes"
_FAILED_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _INI_UNUSED,
        "Cassettes no test uses: 'auto' fails them in whole-suite runs (no paths given), "
        "'fail' always, 'ignore' never.",
        default="auto",
    )


def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    """pytest-recording's hook: teach each VCR it builds the ``websim_body`` matcher."""
    register_matchers(vcr)


@pytest.fixture(scope="session")
def vcr_config() -> dict[str, Any]:
    """pytest-recording's configuration fixture, set to the Websim cassette rules."""
    return vcr_config_for_pytest()


@pytest.fixture(scope="session")
def vcr_cassette_dir() -> str:
    """All tests share the top-level ``cassettes/`` (``$WEBSIM_CASSETTE_DIR`` overrides it)."""
    return os.fspath(cassette_dir())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and not report.passed:
        item.stash[_FAILED_KEY] = True
    return report


@pytest.fixture(autouse=True)
def websim_cassette_fully_played(request: pytest.FixtureRequest, vcr: Any) -> Iterator[None]:
    """After a passing test, every interaction of its cassette must have been played."""
    yield
    if vcr is None or request.node.stash.get(_FAILED_KEY, False):
        return
    unplayed = [
        (index, req, resp)
        for index, (req, resp) in enumerate(vcr.data)
        if vcr.play_counts[index] == 0
    ]
    if not unplayed or getattr(vcr, "record_mode", "none") not in ("none", "once"):
        return
    name = Path(str(vcr._path)).name
    lines = [
        f"cassette {name}: {len(unplayed)} of {len(vcr.data)} recorded interaction(s) "
        "were never requested by the test:"
    ]
    for index, req, resp in unplayed:
        status = resp.get("status", {}).get("code") if isinstance(resp, dict) else "?"
        lines.append(f"  #{index} {req.method} {req.path} -> {status}")
    pytest.fail("\n".join(lines), pytrace=False)


# --- cassettes no test uses ---------------------------------------------------------------------


class UnusedCassetteError(AssertionError):
    """A cassette file that no collected test replays."""


class UnusedCassette(pytest.Item):
    """A collected item standing for one cassette that no test uses; it always fails."""

    def __init__(self, *, cassette: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cassette = cassette

    def runtest(self) -> None:
        raise UnusedCassetteError(
            f"cassette {self.cassette.name} is not used by any test "
            f"(no @pytest.mark.vcr test names it); use it in a test or delete {self.cassette}"
        )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return str(excinfo.value)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.cassette, None, f"unused cassette {self.cassette.name}"


def _with_suffix(name: str) -> str:
    return name if name.endswith((".yaml", ".yml")) else name + ".yaml"


def referenced_cassettes(items: list[pytest.Item], directory: Path) -> set[Path]:
    """The cassette files the ``vcr``-marked items name (default cassette and extra ones)."""
    from pytest_recording.plugin import get_default_cassette_name

    used: set[Path] = set()
    for item in items:
        markers = list(item.iter_markers(name="vcr"))
        if not markers:
            continue
        default = item.get_closest_marker("default_cassette")
        if default is not None and default.args:
            names = [str(default.args[0])]
        else:
            names = [get_default_cassette_name(getattr(item, "cls", None), item.name)]
        names += [str(arg) for marker in markers for arg in marker.args]
        for name in names:
            path = Path(_with_suffix(name))
            used.add((path if path.is_absolute() else directory / path).resolve())
    return used


def _whole_run(config: pytest.Config) -> bool:
    targets = [config.rootpath / p for p in config.getini("testpaths")] or [
        config.invocation_params.dir
    ]
    given = [Path(str(arg).split("::", 1)[0]).resolve() for arg in config.args]
    if any("::" in str(arg) for arg in config.args):
        return False
    return all(any(t.resolve() == g or g in t.resolve().parents for g in given) for t in targets)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add one failing item per cassette of ``cassettes/`` that no collected test uses."""
    mode = str(config.getini(_INI_UNUSED)).strip().lower()
    if mode == "ignore" or (mode != "fail" and not _whole_run(config)):
        return
    directory = cassette_dir()
    if not directory.is_dir():
        return
    used = referenced_cassettes(items, directory)
    for path in cassette_paths(directory):
        if path.resolve() in used:
            continue
        try:
            shown = path.relative_to(config.rootpath)
        except ValueError:
            shown = path
        items.append(
            UnusedCassette.from_parent(
                session,
                name=f"unused-cassette[{path.name}]",
                nodeid=f"{shown.as_posix()}::used-by-a-test",
                path=path,
                cassette=path,
            )
        )
