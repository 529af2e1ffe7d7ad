"""The benchmarks' command-line and process plumbing, shared by the scripts in bench/.

A script run as `python bench/<name>.py` has bench/ first on sys.path, so it
imports this module as `common`; a script loaded by file path (the fuzz smoke
test loads bench/fuzz.py) puts bench/ on sys.path itself first.

- `Parser`: an ArgumentParser whose errors raise `UsageError` instead of
  printing the usage and exiting, so `command_line()` prints one line;
- `number()`: bounded int/float argument types;
- `command_line()`: parse, refuse without root, print `PROG: error: ...`;
- `repo_on_path()`: make `tests.netns...` importable;
- `progress()`, `process_memory()`, `print_log_tails()`;
- `domain_session()`: build a namespace domain, show the daemons' log tails
  if the run fails, always tear it down;
- `report_fields()`: a probe report's loss figures as JSON fields.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
USAGE_EXIT = 2  # exit status of a bad command line or a missing privilege
NAMESPACES = "network namespaces"


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def parser(prog: str, doc: str) -> Parser:
    """A `Parser` for `prog` described by the first line of the script's docstring."""
    return Parser(prog=prog, description=doc.split("\n", 1)[0])


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="accepted; JSON is always printed")


def add_detach_flag(parser: argparse.ArgumentParser) -> None:
    """--detach announced|abrupt: how the old MAG learns that the MN left. Announced
    (the MAG is told first, as an access point reports a disassociation) loses
    nothing; abrupt can lose what was inside the link when it broke
    (docs/buffering.md, "The link-break window")."""
    parser.add_argument(
        "--detach",
        choices=["announced", "abrupt"],
        default="announced",
        help="how the old MAG learns that the MN left (default announced)",
    )


def number(
    kind: Callable[[str], Any],
    low: float,
    high: float,
    name: str | None = None,
    *,
    echo_value: bool = False,
) -> Callable[[str], Any]:
    """An argument type: `kind(text)` within low..high (NaN is out of range).

    Errors read "<name> must be an integer|a number, got 'x'" and
    "<name> must be low..high, got <the text, or the parsed value if echo_value>";
    without a name, "not a number: 'x'" and "must be low..high, got <...>".
    """

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            if name is None:
                message = f"not a number: {text!r}"
            else:
                what = "an integer" if kind is int else "a number"
                message = f"{name} must be {what}, got {text!r}"
            raise argparse.ArgumentTypeError(message) from None
        if not low <= value <= high:
            subject = "must be" if name is None else f"{name} must be"
            got = value if echo_value else text
            raise argparse.ArgumentTypeError(f"{subject} {low}..{high}, got {got}")
        return value

    return parse


def error(prog: str, message: object) -> int:
    """Print `PROG: error: message` to stderr; the exit status to return."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return USAGE_EXIT


def command_line(
    prog: str,
    parse_args: Callable[[list[str] | None], argparse.Namespace],
    argv: list[str] | None,
    *,
    root_for: str | None = NAMESPACES,
) -> argparse.Namespace | None:
    """The parsed arguments, or None once a one-line error went to stderr (exit status 2):
    a `UsageError` from `parse_args`, or not root while `root_for` names what needs it."""
    try:
        args = parse_args(argv)
    except UsageError as exc:
        error(prog, exc)
        return None
    if root_for is not None and os.geteuid() != 0:
        error(prog, f"needs root ({root_for})")
        return None
    return args


def repo_on_path() -> None:
    """Make the repository's `tests.netns` helpers importable."""
    sys.path.insert(0, str(REPO))


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def process_memory(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS (KiB) from /proc/<pid>/status, in the file's order."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def print_log_tails(domain: Any, nodes: Iterable[str], lines: int = 10) -> None:
    """The last lines of each node's daemon log, to stderr (after a failed run)."""
    for node in nodes:
        daemon = domain.daemons.get(node)
        if daemon is not None and daemon.log_path.exists():
            tail = daemon.log_path.read_text().splitlines()[-lines:]
            progress(f"--- {node} log tail\n" + "\n".join(tail))


@contextlib.contextmanager
def domain_session(
    domain: Any,
    log_nodes: Iterable[str] = ("lma", "mag1", "mag2"),
    *,
    start: bool = True,
    log_lines: int = 10,
) -> Iterator[Any]:
    """Build `domain` (tests/netns/harness.py) and, with `start`, start every daemon
    and wait for the MN's address. A failure inside prints the daemons' log tails;
    the namespaces always go."""
    try:
        progress(f"building namespaces {domain.ns('*')}")
        domain.build()
        domain.write_configs()
        if start:
            domain.start_all()
            domain.wait_for(domain.mn_address, "the MN's address", timeout=20)
        yield domain
    except Exception:
        print_log_tails(domain, log_nodes, log_lines)
        raise
    finally:
        domain.destroy()


def report_fields(report: Any) -> dict:
    """A probe Report's loss figures (the first 20 lost ranges)."""
    return {
        "sent": report.sent,
        "received": report.received,
        "lost": report.lost,
        "lost_ranges": report.lost_ranges[:20],
        "duplicates": report.duplicates,
        "reordered": report.reordered,
        "longest_interruption_ms": report.longest_interruption_ms,
    }
