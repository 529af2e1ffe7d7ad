"""The sans-I/O rule of docs/architecture.md, checked on the source text.

core/ and wire/ import nothing from io/, daemon or cli/, and nothing that
does I/O or reads the clock (sockets, netlink, NFQUEUE, asyncio, time).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "pmip6d"
PURE_PACKAGES = ("core", "wire")
FORBIDDEN_PREFIXES = (
    "pmip6d.io",
    "pmip6d.daemon",
    "pmip6d.cli",
    "socket",
    "asyncio",
    "select",
    "selectors",
    "subprocess",
    "time",
    "datetime",
    "pyroute2",
    "netfilterqueue",
)


def imported_modules(source: str, module: str) -> list[str]:
    """Absolute names of every module `source` (the text of `module`) imports."""
    package = module.rsplit(".", 1)[0]
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                # `from . import io` names a module too.
                names += [f"{target}.{alias.name}" for alias in node.names] + [target]
            else:
                names.append(node.module)
    return names


def forbidden(names: list[str]) -> list[str]:
    return [n for n in names if any(n == p or n.startswith(p + ".") for p in FORBIDDEN_PREFIXES)]


def pure_modules() -> list[Path]:
    return sorted(p for sub in PURE_PACKAGES for p in (PACKAGE / sub).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts)


def test_there_are_pure_modules_to_check():
    names = {module_name(p) for p in pure_modules()}
    assert {"pmip6d.core.lma", "pmip6d.core.mag", "pmip6d.wire.codec"} <= names


@pytest.mark.parametrize("path", pure_modules(), ids=module_name)
def test_pure_module_imports_no_io(path):
    names = imported_modules(path.read_text(encoding="utf-8"), module_name(path))
    assert forbidden(names) == []


@pytest.mark.parametrize(
    "source, module",
    [
        ("import socket", "pmip6d.core.lma"),
        ("from time import monotonic", "pmip6d.core.lma"),
        ("from pmip6d.io.tunnels import X", "pmip6d.core.lma"),
        ("from ..daemon import run", "pmip6d.core.lma"),
        ("from .. import cli", "pmip6d.wire.codec"),
        ("import pmip6d.io", "pmip6d.wire.codec"),
    ],
)
def test_checker_catches_each_kind_of_forbidden_import(source, module):
    assert forbidden(imported_modules(source, module)) != []


@pytest.mark.parametrize(
    "source, module",
    [
        ("from .options import Option", "pmip6d.wire.codec"),
        ("from pmip6d.config import Policy", "pmip6d.core.lma"),
        ("import timeit", "pmip6d.core.lma"),
    ],
)
def test_checker_allows_pure_imports(source, module):
    assert forbidden(imported_modules(source, module)) == []
