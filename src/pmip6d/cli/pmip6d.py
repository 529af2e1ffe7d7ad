"""The `pmip6d` console script.

    pmip6d decode [HEX] [--src A --dst B]   Mobility Header hex -> JSON
    pmip6d encode [--src A --dst B] < JSON  JSON -> Mobility Header hex
    pmip6d --config FILE                    daemon mode (see run_daemon)

Bad input gives one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from ipaddress import IPv6Address
from typing import NoReturn

from pmip6d.cli.codec import JsonFormError, message_from_json, message_to_json
from pmip6d.wire import ProtocolError, decode, encode

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad command-line input; reported on one line."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="pmip6d", description="Proxy Mobile IPv6 (RFC 5213) daemon")
    parser.add_argument("--config", metavar="FILE", help="run the daemon with this config")
    commands = parser.add_subparsers(dest="command", parser_class=OneLineParser)

    def add_addresses(sub: argparse.ArgumentParser, verb: str) -> None:
        sub.add_argument("--src", type=IPv6Address, help=f"IPv6 source, to {verb} the checksum")
        sub.add_argument("--dst", type=IPv6Address, help="IPv6 destination, likewise")

    decode_cmd = commands.add_parser("decode", help="print a Mobility Header as JSON")
    decode_cmd.add_argument(
        "hex", nargs="?", help="the Mobility Header from its payload-proto octet; default stdin"
    )
    add_addresses(decode_cmd, "verify")
    encode_cmd = commands.add_parser("encode", help="read JSON on stdin, print the hex")
    add_addresses(encode_cmd, "compute")
    return parser


def run_decode(args: argparse.Namespace) -> str:
    text = args.hex if args.hex is not None else sys.stdin.read()
    cleaned = "".join(text.split()).removeprefix("0x").replace(":", "")
    try:
        data = bytes.fromhex(cleaned)
    except ValueError:
        raise UsageError(f"not hex octets: {text.strip()[:40]!r}") from None
    msg = decode(data, args.src, args.dst)
    return json.dumps(message_to_json(msg), indent=2)


def run_encode(args: argparse.Namespace) -> str:
    try:
        form = json.loads(sys.stdin.read())
    except json.JSONDecodeError as error:
        raise UsageError(f"stdin is not JSON: {error}") from None
    try:
        return encode(message_from_json(form), args.src, args.dst).hex()
    except ValueError as error:  # a field the wire cannot carry, e.g. lifetime 10 s
        raise UsageError(str(error)) from None


def run_daemon(config: str) -> int:
    # Imported here so that decode/encode work without the daemon's dependencies.
    from pmip6d.daemon import run_daemon as run

    return run(config)


COMMANDS = {"decode": run_decode, "encode": run_encode}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            if args.config is None:
                raise UsageError("give a command (decode, encode) or --config FILE")
            return run_daemon(args.config)
        if (args.src is None) != (args.dst is None):
            raise UsageError("give both --src and --dst, or neither")
        print(COMMANDS[args.command](args))
    except (UsageError, JsonFormError, ProtocolError) as error:
        print(f"pmip6d: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
