"""Layering: the import-linter contracts of pyproject.toml hold (websim_core <- websim_cassettes <-
mock_server), and a broken contract fails this test, not just ``tox -e lint``."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from importlinter.api import read_configuration

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def _lint_imports(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports --config CONFIG`` under this interpreter, whatever is on PATH.

    The console script's own entry point is called, with ``cwd`` first on ``sys.path`` so the
    root packages are found in a plain checkout too. No cache: the run leaves no files behind.
    """
    (script,) = entry_points(group="console_scripts", name="lint-imports")
    module, _, function = script.value.partition(":")
    code = f"import sys; from {module} import {function} as main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, "--config", str(config), "--no-cache", "--no-logo"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_are_kept() -> None:
    result = _lint_imports(PYPROJECT, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def test_the_contracts_cover_the_three_packages() -> None:
    config = read_configuration(str(PYPROJECT))
    root_packages = config["session_options"]["root_packages"]
    assert sorted(root_packages) == ["mock_server", "websim_cassettes", "websim_core"]
    kinds = {(c["type"], c["name"]) for c in config["contracts_options"]}
    assert ("layers", "mock_server above websim_cassettes above websim_core") in kinds
    assert (
        "forbidden",
        "websim_core imports neither websim_cassettes nor mock_server",
    ) in kinds


def test_a_broken_contract_fails(tmp_path: Path) -> None:
    # The same contract shapes on two throwaway packages, the lower one importing the upper:
    # proves a violation surfaces as a failure here (exit status and report), not as a pass.
    (tmp_path / "lower").mkdir()
    (tmp_path / "lower" / "__init__.py").write_text("import upper\n", encoding="utf-8")
    (tmp_path / "upper").mkdir()
    (tmp_path / "upper" / "__init__.py").write_text("", encoding="utf-8")
    config = tmp_path / "setup.cfg"
    config.write_text(
        "[importlinter]\n"
        "root_packages =\n    lower\n    upper\n"
        "[importlinter:contract:layers]\n"
        "name = upper above lower\ntype = layers\nlayers =\n    upper\n    lower\n"
        "[importlinter:contract:forbidden]\n"
        "name = lower imports no upper\ntype = forbidden\n"
        "source_modules =\n    lower\nforbidden_modules =\n    upper\n",
        encoding="utf-8",
    )
    result = _lint_imports(config, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "upper above lower BROKEN" in result.stdout, result.stdout
    assert "lower imports no upper BROKEN" in result.stdout, result.stdout


PACKAGES = ("websim_core", "websim_cassettes", "mock_server")


def private_imports(root: Path) -> list[str]:
    """``from module import _name`` between the packages' modules: import-linter has no
    contract for names, only for private modules, so this walks the code itself."""
    import ast

    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom):
                    continue
                ours = node.level > 0 or (node.module or "").split(".")[0] in PACKAGES
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if ours and private:
                        where = path.relative_to(root)
                        found.append(f"{where}:{node.lineno} imports {alias.name}")
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    assert private_imports(ROOT) == []


def test_a_private_import_is_found(tmp_path: Path) -> None:
    (tmp_path / "mock_server").mkdir()
    (tmp_path / "mock_server" / "a.py").write_text("from .b import _hidden\n", encoding="utf-8")
    assert private_imports(tmp_path) == ["mock_server/a.py:1 imports _hidden"]
