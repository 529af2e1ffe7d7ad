"""Handover interruption: a UDP stream CN -> MN across a MAG1 -> MAG2 handover.

    python bench/handover.py --mode standard|buffered --rate PPS --gap-ms MS
        [--detach announced|abrupt] [--json]

Builds a two-MAG domain in namespaces (pmipv6_lab.testbed) with real pmip6d daemons,
buffering on at the LMA iff --mode buffered. A probe receiver runs in the MN
namespace and a probe sender in the CN namespace (pmip6d.cli.probe). The stream
starts 1 s before the handover and lasts gap + 2 s after it. The handover is
MN link to MAG1 down, `gap` without a link, link to MAG2 up and a Router
Solicitation (sent by the testbed's persistent MN driver, so no Python
start-up delay is added to the interruption). --detach announced (the
default) tells MAG1 of the detach just before the link goes, as an access
point reports a disassociation; abrupt just breaks the link, and what was
inside MAG1's access interface at that instant is lost there (counted in
"access_link_drops"; docs/buffering.md, "The link-break window").

buffer_peak / released / dropped come from the LMA's `pmip6ctl status` "buffers"
key; while the daemon does not expose one they are null and "note" says so.
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
from pmipv6_lab.testbed.traffic import handover_under_traffic, link_gap

PROG = "bench/handover.py"
LEAD_S = 1.0  # stream before the handover
TAIL_S = 2.0  # stream after the gap


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(PROG, __doc__)
    parser.add_argument("--mode", required=True, choices=["standard", "buffered"])
    parser.add_argument(
        "--rate", required=True, type=cli.number(float, 1, 100_000, "rate"), help="datagrams/s"
    )
    parser.add_argument(
        "--gap-ms",
        required=True,
        type=cli.number(float, 0, 10_000, "gap-ms"),
        help="link-less ms",
    )
    cli.add_detach_flag(parser)
    cli.add_json_flag(parser)
    return parser.parse_args(argv)


def buffer_stats(status: dict, mn_id: str) -> tuple[dict, str | None]:
    """The MN's buffer figures from the LMA: its open buffer, else its last closed one."""
    buffers = status.get("buffers") or {}
    stats = (buffers.get("mns") or {}).get(mn_id) or (buffers.get("last_closed") or {}).get(mn_id)
    if stats is None:
        empty = {"buffer_peak": None, "released": None, "dropped": None}
        return empty, "the LMA opened no buffer for the MN in this run"
    return (
        {
            "buffer_peak": stats["peak"],
            "released": stats["released"],
            "dropped": stats["dropped_total"],
        },
        None,
    )


def run(
    domain: NamespaceDomain,
    workdir: Path,
    mode: str,
    rate: float,
    gap: float,
    detach: str = "announced",
) -> dict:
    domain.start_all()
    domain.wait_for(domain.mn_address, "the MN's address", timeout=20)
    progress(f"{mode}: {rate:g} pps to {domain.mn_address()}, gap {gap * 1000:g} ms, {detach}")
    drops_before = domain.access_link_drops("mag1")
    report = handover_under_traffic(
        domain, workdir, rate, gap, lead=LEAD_S, tail=TAIL_S, announced=detach == "announced"
    )
    stats, note = buffer_stats(domain.ctl("lma", "status"), domain.mobile_node().nai)
    real_gap = link_gap(domain)
    lma = domain.daemons["lma"].process
    memory = process_memory(lma.pid) if lma is not None else {}
    result = {
        "mode": mode,
        "detach": detach,
        "rate_pps": rate,
        "gap_ms": gap * 1000,
        "sent": report.sent,
        "received": report.received,
        "lost": report.lost,
        "duplicates": report.duplicates,
        "reordered": report.reordered,
        "interruption_ms": report.longest_interruption_ms,
        **stats,
        "access_link_drops": domain.access_link_drops("mag1") - drops_before,
        # The link is really down a little longer than asked (the driver's own
        # steps, the announcement); the MAGs' logs say how long.
        "link_gap_ms": None if real_gap is None else round(real_gap * 1000, 3),
        "interruption_beyond_gap_ms": (
            None
            if real_gap is None or report.longest_interruption_ms is None
            else round(report.longest_interruption_ms - real_gap * 1000, 3)
        ),
    }
    result.update(memory)
    if note:
        result["note"] = note
    return result


def process_memory(pid: int) -> dict:
    """The LMA daemon's resident memory now and at its peak (KiB). Held packets
    themselves stay in the kernel's NFQUEUE and are not part of it."""
    return {f"lma_{key.lower()}_kib": kib for key, kib in session.process_memory(pid).items()}


def main(argv: list[str] | None = None) -> int:
    args = cli.command_line(PROG, parse_args, argv)
    if args is None:
        return 2
    with tempfile.TemporaryDirectory(prefix="pmip6-bench-ho-") as tmp:
        workdir = Path(tmp)
        domain = NamespaceDomain(workdir / "domain", mags=2, buffering=args.mode == "buffered")
        with session.domain_session(domain, start=False):  # run() starts the daemons
            result = run(domain, workdir, args.mode, args.rate, args.gap_ms / 1000, args.detach)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
