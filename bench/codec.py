"""Mobility Header codec throughput: encode and decode rate of a full PBU and PBA.

    python bench/codec.py [--seconds S]

Prints a summary, then one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from pmip6d.wire import (
    AccessTechnology,
    AccessTechnologyType,
    BindingAcknowledgement,
    BindingUpdate,
    Handoff,
    HandoffIndicator,
    HomeNetworkPrefix,
    LinkLocalAddress,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    Status,
    Timestamp,
    decode,
    encode,
)
from pmipv6_lab import cli

MAG, LMA = "2001:db8:0:1::2", "2001:db8:0:1::1"
OPTIONS = (
    MobileNodeIdentifier("mn1@pmip6.example"),
    HomeNetworkPrefix("2001:db8:100::/64"),
    HandoffIndicator(Handoff.NEW_INTERFACE),
    AccessTechnologyType(AccessTechnology.ETHERNET),
    MobileNodeLinkLayerIdentifier(bytes.fromhex("02000a000001")),
    LinkLocalAddress("fe80::1"),
    Timestamp.from_seconds(1718000000.25),
)
PBU = BindingUpdate(sequence=1, lifetime=3600, ack=True, proxy=True, options=OPTIONS)
PBA = BindingAcknowledgement(
    status=Status.ACCEPTED, sequence=1, lifetime=3600, proxy=True, options=OPTIONS
)
BATCH = 500
PROG = "bench/codec.py"


def rate(operation: Callable[[], object], seconds: float) -> float:
    """Calls per second of `operation`, measured in batches for at least `seconds`."""
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(BATCH):
            operation()
        calls += BATCH
    return calls / elapsed


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"{value} is not in (0, 60]")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(PROG, __doc__)
    parser.add_argument(
        "--seconds",
        type=positive_seconds,
        default=1.0,
        help="measuring time per figure (default 1)",
    )
    cli.add_json_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = cli.command_line(PROG, parse_args, argv, root_for=None)
    if args is None:
        return 2
    pbu_octets = encode(PBU, MAG, LMA)
    pba_octets = encode(PBA, LMA, MAG)
    figures = {
        "pbu_octets": len(pbu_octets),
        "pbu_encode_per_s": rate(lambda: encode(PBU, MAG, LMA), args.seconds),
        "pbu_decode_per_s": rate(lambda: decode(pbu_octets, MAG, LMA), args.seconds),
        "pba_encode_per_s": rate(lambda: encode(PBA, LMA, MAG), args.seconds),
        "pba_decode_per_s": rate(lambda: decode(pba_octets, LMA, MAG), args.seconds),
        "pbu_decode_no_checksum_per_s": rate(lambda: decode(pbu_octets), args.seconds),
        "python": sys.version.split()[0],
    }
    for name, value in figures.items():
        print(f"{name:32} {value:>12,.0f}" if isinstance(value, float) else f"{name:32} {value}")
    rounded = {k: round(v) if isinstance(v, float) else v for k, v in figures.items()}
    print(json.dumps({"benchmark": "codec", **rounded}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
