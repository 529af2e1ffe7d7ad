"""The command line of the benchmarks (bench/) and the fuzzer: one-line errors,
bounded numbers, the root check, progress on stderr.

- `Parser`: an ArgumentParser whose errors raise `UsageError` instead of
  printing the usage and exiting, so `command_line()` prints one line;
- `number()`: bounded int/float argument types;
- `command_line()`: parse, refuse without root, print `PROG: error: ...`;
- `progress()`: a line on stderr (stdout is for the JSON result).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

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


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
