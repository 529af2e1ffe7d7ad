"""pmip6ctl: ask a running pmip6d what it knows, or change what it does."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pmip6d.config import DEFAULT_CONTROL_SOCKET as DEFAULT_SOCKET
from pmip6d.control import ControlError, request


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pmip6ctl", description=__doc__)
    parser.add_argument(
        "--socket", type=Path, default=DEFAULT_SOCKET, help=f"control socket ({DEFAULT_SOCKET})"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    status = commands.add_parser("status", help="binding cache / binding update list and counters")
    status.add_argument("--json", action="store_true", help="print JSON")
    buffering = commands.add_parser("buffering", help="turn LMA handover buffering on or off")
    buffering.add_argument("state", choices=["on", "off"])
    buffering.add_argument("--json", action="store_true", help="print JSON")
    detach = commands.add_parser(
        "detach",
        help="MAG: the MN on an access link has left (an access point's disassociation "
        "event); hold its packets and de-register before the link goes",
    )
    detach.add_argument("interface", help="the access link the MN was on")
    detach.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "status":
            result = request(args.socket, "status")
        elif args.command == "detach":
            result = request(args.socket, "detach", interface=args.interface)
        else:
            result = request(args.socket, "buffering", enabled=args.state == "on")
    except ControlError as exc:
        print(f"pmip6ctl: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    elif args.command == "status":
        print(render_status(result))
    elif args.command == "detach":
        print(f"{result['detached']} detached from {result['interface']}")
    else:
        print(f"buffering {'on' if result.get('buffering') else 'off'}")
    return 0


def render_status(status: dict) -> str:
    lines = [f"{status.get('role', '?')} {status.get('node', '')}".rstrip()]
    for section in ("bindings", "buffers"):
        rows = status.get(section) or []
        lines.append(f"\n{section} ({len(rows)})")
        if rows:
            lines.extend(_table(rows))
    counters = status.get("counters") or {}
    if counters:
        lines.append("\ncounters")
        lines.extend(f"  {name}: {_cell(value)}" for name, value in sorted(counters.items()))
    return "\n".join(lines)


def _table(rows: list[dict]) -> list[str]:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  " + "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return [line(columns), *(line(r) for r in cells)]


def _cell(value) -> str:
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}={_cell(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
