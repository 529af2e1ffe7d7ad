"""The handover table: rates x gaps x modes, one fresh domain per cell.

    python bench/handover_matrix.py [--rates 1000,5000,10000] [--gaps-ms 200,500,2000]
        [--detach announced|abrupt] [--json]

Runs bench/handover.py's measurement for every cell (standard and buffered),
prints a Markdown table to stderr and one JSON list as the last stdout line.
Needs root; about 10 s a cell.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from handover import run

from pmipv6_lab import cli
from pmipv6_lab.testbed.domain import NamespaceDomain

COLUMNS = [
    "mode", "detach", "rate_pps", "gap_ms", "sent", "lost", "reordered", "duplicates",
    "interruption_ms", "interruption_beyond_gap_ms", "buffer_peak", "released", "dropped",
    "access_link_drops", "lma_vmhwm_kib",
]  # fmt: skip


def numbers(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


PROG = "bench/handover_matrix.py"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(PROG, __doc__)
    parser.add_argument("--rates", type=numbers, default=[1000, 5000, 10000])
    parser.add_argument("--gaps-ms", type=numbers, default=[200, 500, 2000])
    cli.add_detach_flag(parser)
    cli.add_json_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = cli.command_line(PROG, parse_args, argv)
    if args is None:
        return 2
    rows = []
    for rate in args.rates:
        for gap in args.gaps_ms:
            for mode in ("standard", "buffered"):
                with tempfile.TemporaryDirectory(prefix="pmip6-matrix-") as workdir:
                    domain = NamespaceDomain(Path(workdir) / "domain", buffering=mode == "buffered")
                    try:
                        domain.build()
                        domain.write_configs()
                        rows.append(run(domain, Path(workdir), mode, rate, gap / 1000, args.detach))
                    finally:
                        domain.destroy()
                cli.progress(json.dumps(rows[-1]))
    print("\n| " + " | ".join(COLUMNS) + " |", file=sys.stderr)
    print("|" + "---|" * len(COLUMNS), file=sys.stderr)
    for row in rows:
        print("| " + " | ".join(str(row.get(c)) for c in COLUMNS) + " |", file=sys.stderr)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
