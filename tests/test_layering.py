"""The layers of docs/architecture.md, checked on the source text.

Imports point one way: plan -> {lab files, testbed}; cli -> daemon -> core,
io -> wire. core/ and wire/ import nothing from io/, daemon, cli/ or the lab
package (plan, testbed), and nothing that does I/O or reads the clock
(sockets, netlink, NFQUEUE, asyncio, time); pmip6d imports nothing of the
lab package; nothing in src/ or bench/ imports tests/.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOURCES = REPO / "src"
PACKAGE = SOURCES / "pmip6d"
PURE_PACKAGES = ("core", "wire")
FORBIDDEN_PREFIXES = (
    "pmip6d.io",
    "pmip6d.daemon",
    "pmip6d.cli",
    "pmipv6_lab",
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


# Beyond the pure core: which layer may not import which. A module of the
# first package may import no module of the packages after it.
ONE_WAY = [
    ("pmip6d.wire", ("pmip6d.core", "pmip6d.config", "pmip6d.daemon", "pmip6d.probe")),
    ("pmip6d.io", ("pmip6d.daemon", "pmip6d.cli", "pmip6d.core")),
    ("pmip6d.daemon", ("pmip6d.cli",)),
    ("pmip6d", ("pmipv6_lab", "tests")),
    ("pmipv6_lab.plan", ("pmipv6_lab.lab_files", "pmipv6_lab.testbed")),
    ("pmipv6_lab", ("tests",)),
]


def source_modules() -> list[tuple[str, Path]]:
    return sorted((module_name(p), p) for p in SOURCES.rglob("*.py"))


def imports_of(path: Path, module: str) -> list[str]:
    return imported_modules(path.read_text(encoding="utf-8"), module)


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("layer, forbidden_layers", ONE_WAY, ids=[r[0] for r in ONE_WAY])
def test_imports_point_one_way(layer, forbidden_layers):
    modules = [(m, p) for m, p in source_modules() if within(m, layer)]
    assert modules, f"no module in {layer}"
    wrong = [
        f"{module} imports {name}"
        for module, path in modules
        for name in imports_of(path, module)
        if any(within(name, f) for f in forbidden_layers)
    ]
    assert wrong == []


def test_the_lab_package_is_covered():
    names = {m for m, _ in source_modules()}
    assert {"pmipv6_lab.plan", "pmipv6_lab.testbed.domain", "pmipv6_lab.lab_files"} <= names


@pytest.mark.parametrize("path", sorted((REPO / "bench").glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_import_nothing_of_the_tests(path):
    names = imported_modules(path.read_text(encoding="utf-8"), f"bench.{path.stem}")
    assert [n for n in names if within(n, "tests")] == []


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
