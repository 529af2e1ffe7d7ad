"""Faults: lost signalling during repeated handovers, or a daemon killed under traffic.

    python bench/faults.py --loss 0.3 --handovers 10 [--rate PPS] [--fast-timers]
        [--detach announced|abrupt] [--json]
    python bench/faults.py --kill lma|lma-attached|mag [--rate PPS] [--lifetime S] [--json]

--loss: ip6tables drops that fraction of the Mobility Header messages leaving the
MAGs (PBUs) and the LMA (PBAs), at random; the MN hands over back and forth
(1->2, 2->1, ...) under one stream with buffering on, each handover waiting for
the binding at the new MAG and the old MAG's acknowledged de-registration
(--detach as in bench/handover.py, default announced). RFC
timers by default (first retransmission after 1.5 s / 1.0 s, doubling);
--fast-timers uses 0.5 s capped at 1 s as tests/netns/test_faults.py does
(pmipv6_lab/testbed/faults.py has the scenarios both run).
--bce-delete-delay S raises MinDelayBeforeBCEDelete (the LMA's buffer hold time
follows it), so a registration that needs several retransmissions with the RFC
timers still finds the MN's packets held.

--kill lma: the MN detaches from MAG1 (the LMA buffers), the LMA is SIGKILLed,
restarted, and the MN attaches at MAG2. --kill lma-attached: the MN stays at
MAG1 while the LMA is killed and restarted; MAG1 re-registers the MN when the
restarted LMA announces its new Restart Counter (RFC 5847 heartbeat), so
`outage_s` does not depend on the binding lifetime (--lifetime, default
3600 s). --kill mag: MAG1 is killed with the MN attached, restarted, and the
MN solicits again.

Needs root. Progress goes to stderr; one JSON object is the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from pmipv6_lab import cli
from pmipv6_lab.testbed import session
from pmipv6_lab.testbed.domain import NamespaceDomain
from pmipv6_lab.testbed.faults import (
    FAST_RETRANSMISSION,
    drop_signalling,
    lma_killed_while_buffering,
    lma_memory,
    lma_restarted_under_attached_mn,
    mag_killed_with_mn_attached,
    prefix_routes,
    repeated_handovers,
)

PROG = "bench/faults.py"


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"loss must be a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"loss must be 0..1 (exclusive), got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(PROG, __doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--loss", type=_fraction, help="fraction of MH messages dropped")
    mode.add_argument("--kill", choices=["lma", "lma-attached", "mag"])
    parser.add_argument("--handovers", type=cli.number(int, 1, 100), default=10)
    parser.add_argument("--rate", type=cli.number(float, 1, 20_000), default=1000.0)
    parser.add_argument("--gap-ms", type=cli.number(float, 0, 5000), default=200.0)
    parser.add_argument("--fast-timers", action="store_true")
    parser.add_argument(
        "--bce-delete-delay",
        type=cli.number(float, 1, 600),
        help="MinDelayBeforeBCEDelete in s (default 10): how long the LMA keeps a "
        "de-registered binding, and so its buffer, for the MN to come back",
    )
    parser.add_argument("--lifetime", type=cli.number(int, 4, 3600), default=3600)
    cli.add_detach_flag(parser)
    cli.add_json_flag(parser)
    return parser.parse_args(argv)


def loss_run(domain: NamespaceDomain, workdir: Path, args: argparse.Namespace) -> dict:
    drop_signalling(domain, args.loss)
    # A slow handover (several losses in a row with RFC timers) may take tens of seconds.
    per_handover = 3.0 if args.fast_timers else 8.0
    result = repeated_handovers(
        domain,
        workdir,
        args.rate,
        args.handovers,
        gap=args.gap_ms / 1000,
        per_handover=per_handover,
        settle_timeout=150,
        announced=args.detach == "announced",
    )
    durations = sorted(result["handover_s"])
    signalling = result["signalling"]
    expected = [2 if n % 2 else 1 for n in range(1, args.handovers + 1)]
    return {
        "mode": "loss",
        "detach": args.detach,
        "loss": args.loss,
        "timers": "fast" if args.fast_timers else "rfc",
        "rate_pps": args.rate,
        "gap_ms": args.gap_ms,
        "handovers": args.handovers,
        "completed": sum(a == b for a, b in zip(result["completed"], expected, strict=False)),
        "handover_s": result["handover_s"],
        "handover_s_median": durations[len(durations) // 2] if durations else None,
        "handover_s_max": durations[-1] if durations else None,
        "mh_dropped": sum(node["dropped"] for node in signalling.values()),
        "pbu_sent": sum(node.get("pbu_sent", 0) for node in signalling.values()),
        "retransmissions": sum(node.get("retransmissions", 0) for node in signalling.values()),
        "give_ups": sum(node.get("give_ups", 0) for node in signalling.values()),
        "signalling": signalling,
        "access_link_drops": result["access_link_drops"],
        "lma_counters": result["lma_counters"],
        "buffer": result["buffer"],
        **session.report_fields(result["report"]),
    }


def kill_run(domain: NamespaceDomain, workdir: Path, args: argparse.Namespace) -> dict:
    rss = lma_memory(domain)
    if args.kill == "lma":
        seen = lma_killed_while_buffering(domain, workdir, rate=args.rate)
        extra = {
            "dead_window": seen["dead_window"],
            "rules_after_kill": len(seen["rules_after_kill"]),
            "rules_after_restart": len(seen["rules_after_restart"]),
            "prefix_routes_after_restart": len(prefix_routes(seen["routes_after_restart"])),
            "resumed_after_attach_s": seen["resumed_after_attach_s"],
            "resumed_after_restart_s": seen["resumed_after_restart_s"],
        }
    elif args.kill == "lma-attached":
        seen = lma_restarted_under_attached_mn(domain, workdir, rate=args.rate)
        extra = {
            "lifetime_s": seen["lifetime"],
            "flowing_while_dead": seen["flowing_while_dead"],
            "prefix_routes_after_kill": len(prefix_routes(seen["routes_after_kill"])),
            "outage_s": seen["outage_s"],
            "lma_restarts_seen_by_mag1": seen["mag1_counters"].get("lma_restarts", 0),
        }
    else:
        seen = mag_killed_with_mn_attached(domain, workdir, rate=args.rate)
        extra = {
            "flowing_while_dead": seen["flowing_while_dead"],
            "outage_from_restart_s": seen["outage_from_restart_s"],
            "interruption_s": seen["interruption_s"],
        }
    return {
        "mode": f"kill-{args.kill}",
        "rate_pps": args.rate,
        **extra,
        **session.report_fields(seen["report"]),
        "lma_rss_kib_first_run": rss.get("VmRSS"),
    }


def main(argv: list[str] | None = None) -> int:
    args = cli.command_line(PROG, parse_args, argv)
    if args is None:
        return 2
    timers = dict(FAST_RETRANSMISSION) if args.loss is not None and args.fast_timers else {}
    if args.bce_delete_delay is not None:
        timers["min_delay_before_bce_delete"] = args.bce_delete_delay
    extra_mag = {"requested_lifetime": args.lifetime} if args.kill == "lma-attached" else {}
    with tempfile.TemporaryDirectory(prefix="pmip6-bench-faults-") as tmp:
        workdir = Path(tmp)
        domain = NamespaceDomain(
            workdir / "domain", buffering=True, extra_protocol=timers, extra_mag=extra_mag
        )
        with session.domain_session(domain):
            if args.loss is not None:
                result = loss_run(domain, workdir / "run", args)
            else:
                result = kill_run(domain, workdir / "run", args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
