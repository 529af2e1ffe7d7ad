"""Overload: one handover whose link gap is far longer than the LMA's buffer holds.

    python bench/overload.py --rate 10000 --gap-ms 5000 --max-packets 20000
        [--detach announced|abrupt] [--json]

Two-MAG domain, buffering on, the LMA's `buffering.max_packets_per_mn` set to
--max-packets. A probe stream CN -> MN at --rate starts 1 s before the MN leaves
MAG1 and lasts the gap + 3 s after it. Reports the probe's sent / received /
lost / reordered / duplicates, the LMA's buffer figures for the MN (peak,
released, dropped by reason), the LMA daemon's VmRSS / VmHWM before and after,
and the packets the kernel dropped on MAG1's dead access link at an abrupt
detach (past routing, beyond any buffer; --detach as in bench/handover.py,
default announced). `accounted` is true when
lost == dropped_total + access_link_drops and nothing was reordered or duplicated.

Needs root. Progress goes to stderr; one JSON object is the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from pmipv6_lab import cli
from pmipv6_lab.cli import progress
from pmipv6_lab.testbed import session
from pmipv6_lab.testbed.domain import NamespaceDomain
from pmipv6_lab.testbed.faults import overload, running

PROG = "bench/overload.py"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(PROG, __doc__)
    parser.add_argument("--rate", type=cli.number(float, 1, 100_000), default=10_000.0)
    parser.add_argument("--gap-ms", type=cli.number(float, 0, 9_000), default=5000.0)
    parser.add_argument("--max-packets", type=cli.number(int, 1, 1_000_000), default=20_000)
    cli.add_detach_flag(parser)
    cli.add_json_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = cli.command_line(PROG, parse_args, argv)
    if args is None:
        return 2
    with tempfile.TemporaryDirectory(prefix="pmip6-bench-overload-") as tmp:
        workdir = Path(tmp)
        domain = NamespaceDomain(
            workdir / "domain",
            buffering=True,
            extra_lma={"buffering": {"max_packets_per_mn": args.max_packets}},
        )
        with session.domain_session(domain):
            progress(f"{args.rate:g} pps, gap {args.gap_ms:g} ms, limit {args.max_packets}")
            measured = overload(
                domain,
                workdir / "run",
                args.rate,
                args.gap_ms / 1000,
                announced=args.detach == "announced",
            )
            alive = running(domain)
    report, stats = measured["report"], measured["buffer"]
    dropped = {reason: count for reason, count in stats["dropped"].items() if count}
    result = {
        "detach": args.detach,
        "rate_pps": args.rate,
        "gap_ms": args.gap_ms,
        "max_packets_per_mn": args.max_packets,
        **session.report_fields(report),
        "buffer_peak": stats["peak"],
        "buffer_released": stats["released"],
        "buffer_dropped_total": stats["dropped_total"],
        "buffer_dropped": dropped,
        "handed_back": stats["handed_back"],
        "access_link_drops": measured["access_link_drops"],
        "accounted": report.lost == stats["dropped_total"] + measured["access_link_drops"]
        and report.reordered == 0
        and report.duplicates == 0,
        "lma_vmrss_kib_before": measured["rss_before"]["VmRSS"],
        "lma_vmrss_kib_after": measured["rss_after"]["VmRSS"],
        "lma_vmhwm_kib_before": measured["rss_before"]["VmHWM"],
        "lma_vmhwm_kib_after": measured["rss_after"]["VmHWM"],
        "daemons_running": alive,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
