"""Every package's and module's ``__all__`` names exist and are exactly its public surface.

Parametrised by package; add a package name to PACKAGES to have it checked the same way.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

PACKAGES = ["websim_core", "websim_cassettes", "mock_server"]

# What issue 2 promises importable from the top of websim_core.
WEBSIM_CORE_PROMISES = {
    "generate_project_id",
    "classify_project_id",
    "ProjectIdKind",
    "route",
    "Endpoint",
    "CHAT_MODELS",
    "IMAGE_MODELS",
    "DEFAULT_MODEL",
    "DEFAULT_IMAGE_MODEL",
    "WebsimClient",
    "DEFAULT_BASE_URL",
    "ImageResponse",
    "Websim",
    "RetryPolicy",
    "parse_retry_after",
    "SSEDecoder",
    "ServerSentEvent",
    "error_for_status",
    "WebsimError",
    "InvalidRequestError",
    "ResponseStatusError",
    "RateLimitError",
    "MissingAuthError",
    "CloudflareError",
    "ResponseFormatError",
    "WebsimConnectionError",
    "WebsimTimeoutError",
}


def modules_of(package: str) -> list[str]:
    root = importlib.import_module(package)
    names = [package]
    names += [info.name for info in pkgutil.walk_packages(root.__path__, package + ".")]
    return sorted(names)


ALL_MODULES = [name for package in PACKAGES for name in modules_of(package)]


def defined_here(module: ModuleType) -> set[str]:
    """Public classes and functions whose home is this module (not imported into it).

    pytest hook functions (``pytest_*``) are a plugin's contract with pytest, not an API.
    """
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith(("_", "pytest_"))
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", None) == module.__name__
    }


@pytest.mark.parametrize("name", ALL_MODULES)
def test_all_is_a_list_of_existing_unique_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, list), f"{name} has no __all__ list"
    assert all(isinstance(n, str) for n in exported)
    assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == [], f"{name}.__all__ names what it does not have"


@pytest.mark.parametrize("name", ALL_MODULES)
def test_public_classes_and_functions_are_exported(name: str) -> None:
    module = importlib.import_module(name)
    unexported = defined_here(module) - set(module.__all__)
    assert unexported == set(), f"{name} defines public names missing from __all__"


@pytest.mark.parametrize("package", PACKAGES)
def test_star_import_gives_exactly_all(package: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {package} import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(importlib.import_module(package).__all__)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_exports_come_from_its_modules_public_names(package: str) -> None:
    root = importlib.import_module(package)
    submodule_exports = {
        id(getattr(module, n))
        for name in modules_of(package)
        if name != package
        for module in [importlib.import_module(name)]
        for n in module.__all__
    }
    private = [
        n
        for n in root.__all__
        if n != "__version__"
        and not inspect.ismodule(getattr(root, n))
        and id(getattr(root, n)) not in submodule_exports
    ]
    assert private == [], f"{package} re-exports names its modules keep private"


def test_websim_core_keeps_its_promises() -> None:
    import websim_core

    assert set(websim_core.__all__) >= WEBSIM_CORE_PROMISES
    assert isinstance(websim_core.__version__, str)
