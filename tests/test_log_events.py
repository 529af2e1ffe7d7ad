"""Every log event the code emits is listed in docs/log-events.md, in snake_case,
with the fields the code passes by name; and every event listed is emitted."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "pmip6d"
DOC = ROOT / "docs" / "log-events.md"
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# The daemon renders the core's LogEvent actions under their own names.
PASS_THROUGH = "action.name"


def _names(node: ast.expr) -> list[str] | None:
    """The event names an argument can take: a literal, or `a if c else b` of literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _names(node.body), _names(node.orelse)
        return None if body is None or orelse is None else body + orelse
    return None


def _fields(call: ast.Call, kind: str) -> list[str]:
    """Field names passed literally: keywords of emit(), constant keys of the
    dict a LogEvent gets."""
    if kind == "emit":
        return [k.arg for k in call.keywords if k.arg is not None]
    if len(call.args) > 1 and isinstance(call.args[1], ast.Dict):
        return [k.value for k in call.args[1].keys if isinstance(k, ast.Constant)]
    return []


@functools.cache
def emitted() -> dict[str, set[str]]:
    """event -> the field names passed literally, over every call in src/pmip6d."""
    events: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for call in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(call, ast.Call) or not call.args:
                continue
            func = call.func
            kind = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if kind not in ("emit", "LogEvent"):
                continue
            names = _names(call.args[0])
            if names is None:
                source = ast.unparse(call.args[0])
                where = f"{path.relative_to(ROOT)}:{call.lineno}"
                assert source == PASS_THROUGH, f"{where}: event name is not a literal: {source}"
                continue
            for name in names:
                events.setdefault(name, set()).update(_fields(call, kind))
    return events


@functools.cache
def documented() -> dict[str, str]:
    """event -> its fields cell, from the tables of docs/log-events.md."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and (match := re.fullmatch(r"`([a-z0-9_]+)`", cells[0])):
            rows[match.group(1)] = cells[3]
    return rows


def test_the_scan_finds_core_and_daemon_events():
    names = set(emitted())
    assert {"pbu_accepted", "registered", "refreshed", "buffer_closed", "carrier"} <= names


def test_every_emitted_event_is_documented_and_every_documented_one_emitted():
    assert sorted(emitted()) == sorted(documented())


@pytest.mark.parametrize("event", sorted(emitted()))
def test_event_name_is_snake_case(event):
    assert SNAKE.match(event), event


@pytest.mark.parametrize("event", sorted(emitted()))
def test_fields_passed_by_name_are_documented(event):
    cell = documented().get(event, "")
    listed = set(re.findall(r"`([a-z_]+)`", cell))
    assert emitted()[event] <= listed, f"{event}: undocumented {emitted()[event] - listed}"


def test_a_name_that_is_not_a_literal_is_refused():
    call = ast.parse('log.emit(f"x-{y}")').body[0].value
    assert _names(call.args[0]) is None
