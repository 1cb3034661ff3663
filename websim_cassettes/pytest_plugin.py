"""pytest glue for Websim cassettes (pytest-recording): config fixtures, matcher, use checks.

Enable in a ``conftest.py``: ``pytest_plugins = ["websim_cassettes.pytest_plugin"]``. Then
``@pytest.mark.vcr`` replays ``tests/cassettes/<module>/<test name>.yaml`` (pytest-recording's
place; the ``websim_cassette_dir`` ini setting puts all cassettes in one folder instead). A test
that leaves recorded interactions unplayed fails; cassettes no test uses fail only when
``websim_unused_cassettes`` asks. Every setting: docs/cassettes.md.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from .config import CASSETTE_DIR_ENV, MATCH_ON, register_matchers, vcr_config_for_pytest
from .files import cassette_paths

__all__ = [
    "INSTALL_HINT",
    "UnusedCassette",
    "UnusedCassetteError",
    "cassette_dir_for",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_recording_configure",
    "referenced_cassettes",
    "vcr_cassette_dir",
    "vcr_config",
    "websim_cassette_fully_played",
]

INSTALL_HINT = "pip install 'websim-harness[pytest]'"
_INI_DIR = "websim_cassette_dir"
_INI_UNUSED = "websim_unused_cassettes"
_INI_MATCH_ON = "websim_match_on"
_INI_STRICT_IDS = "websim_strict_ids"
_UNUSED_MODES = ("ignore", "auto", "fail")
_FAILED_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _INI_DIR,
        "One folder for all cassettes, relative to the rootdir (default: pytest-recording's "
        "tests/.../cassettes/<module>/ beside each test module; $WEBSIM_CASSETTE_DIR overrides).",
        default="",
    )
    parser.addini(
        _INI_UNUSED,
        "Cassettes no test uses: 'ignore' (default) never fails them, 'auto' fails them in "
        "whole-suite runs (no paths given), 'fail' always.",
        default="ignore",
    )
    parser.addini(
        _INI_MATCH_ON,
        "vcrpy matchers a request must pass (add scheme host port to tell the mock from the "
        "live API).",
        type="args",
        default=list(MATCH_ON),
    )
    parser.addini(
        _INI_STRICT_IDS,
        "Judge project IDs as websim-mock --strict-ids does (default: false, lenient).",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to start, in one line, without pytest-recording or with a setting it cannot use."""
    if not config.pluginmanager.hasplugin("recording"):
        raise pytest.UsageError(
            f"websim_cassettes.pytest_plugin needs pytest-recording: {INSTALL_HINT}"
        )
    mode = str(config.getini(_INI_UNUSED)).strip().lower()
    if mode not in _UNUSED_MODES:
        raise pytest.UsageError(
            f"{_INI_UNUSED} = {mode!r}: expected one of {', '.join(_UNUSED_MODES)}"
        )


# pytest-recording's hook: optional, so that pytest without it reaches the one-line refusal
# above instead of an INTERNALERROR about an unknown hook.
@pytest.hookimpl(optionalhook=True)
def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    """Teach each VCR pytest-recording builds the ``websim_body`` matcher."""
    register_matchers(vcr, strict_ids=bool(config.getini(_INI_STRICT_IDS)))


@pytest.fixture(scope="session")
def vcr_config(pytestconfig: pytest.Config) -> dict[str, Any]:
    """pytest-recording's configuration fixture, set to the Websim cassette rules."""
    return vcr_config_for_pytest(match_on=tuple(pytestconfig.getini(_INI_MATCH_ON)))


def _shared_dir(config: pytest.Config) -> Path | None:
    env = os.environ.get(CASSETTE_DIR_ENV)
    if env:
        return Path(env)
    configured = str(config.getini(_INI_DIR)).strip()
    return config.rootpath / configured if configured else None


def cassette_dir_for(config: pytest.Config, module_path: Path) -> Path:
    """The cassette folder of a test module: ``$WEBSIM_CASSETTE_DIR``, else the
    ``websim_cassette_dir`` ini folder, else pytest-recording's ``<dir>/cassettes/<module>/``."""
    shared = _shared_dir(config)
    if shared is not None:
        return shared
    return module_path.parent / "cassettes" / module_path.stem


@pytest.fixture
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """pytest-recording's cassette folder fixture (see ``cassette_dir_for``)."""
    return os.fspath(cassette_dir_for(request.config, Path(request.node.path)))


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
    # A dirty cassette recorded something in this run: nothing was meant to be replayed.
    if vcr is None or request.node.stash.get(_FAILED_KEY, False) or vcr.dirty:
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


def referenced_cassettes(items: list[pytest.Item], config: pytest.Config) -> set[Path]:
    """The cassette files the ``vcr``-marked items name (default cassette and extra ones)."""
    from pytest_recording.plugin import get_default_cassette_name

    used: set[Path] = set()
    for item in items:
        markers = list(item.iter_markers(name="vcr"))
        if not markers:
            continue
        directory = cassette_dir_for(config, Path(item.path))
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


def _owned_dirs(items: list[pytest.Item], config: pytest.Config) -> list[Path]:
    """The cassette folders the collected tests own: the shared one, or one per test module."""
    shared = _shared_dir(config)
    if shared is not None:
        return [shared]
    modules = {Path(item.path) for item in items if isinstance(item, pytest.Function)}
    return sorted({cassette_dir_for(config, module) for module in modules})


def _whole_run(config: pytest.Config) -> bool:
    targets = [config.rootpath / p for p in config.getini("testpaths")] or [
        config.invocation_params.dir
    ]
    given = [Path(str(arg).split("::", 1)[0]).resolve() for arg in config.args]
    if any("::" in str(arg) for arg in config.args):
        return False
    return all(any(t.resolve() == g or g in t.resolve().parents for g in given) for t in targets)


def _unused_item(session: pytest.Session, config: pytest.Config, path: Path) -> UnusedCassette:
    try:
        shown = path.relative_to(config.rootpath)
    except ValueError:
        shown = path
    return UnusedCassette.from_parent(
        session,
        name=f"unused-cassette[{path.name}]",
        nodeid=f"{shown.as_posix()}::used-by-a-test",
        path=path,
        cassette=path,
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """When asked, add one failing item per cassette of the tests' own folders no test uses."""
    mode = str(config.getini(_INI_UNUSED)).strip().lower()
    if mode == "ignore" or (mode != "fail" and not _whole_run(config)):
        return
    used = referenced_cassettes(items, config)
    unused = [
        path
        for directory in _owned_dirs(items, config)
        if directory.is_dir()
        # The folder's own files only: a subfolder is not a collected module's own folder.
        for path in cassette_paths(directory, recursive=False)
        if path.resolve() not in used
    ]
    items.extend(_unused_item(session, config, path) for path in unused)
