"""Scale: one real LMA, N MNs bound through M fake MAGs, then H handovers at once.

    python bench/scale.py [--mns 1000] [--mags 4] [--handovers 100] [--json]

Builds a domain plan of M MAGs and N MNs in namespaces (pmipv6_lab.testbed; the
MNs are in the policy only: mn<n>@pmipv6.lab, prefix 2001:db8:1:<n>::/64,
n = 1..N) and starts only the LMA daemon, with buffering on. In each MAG
namespace a fake MAG (pmipv6_lab/testbed/fake_mag.py: a raw Mobility Header socket bound to the
MAG address) drives the MN attachments as PBUs, so no namespace per MN is
needed. MN n registers at MAG ((n-1) mod M) + 1, at most --window PBUs
unanswered per fake MAG. Then H MNs spread over the population hand over to
the next MAG, all at once, in two steps: every old MAG de-registers its MN
(lifetime 0), then every new MAG registers it.

Per step: PBU sendto -> PBA recv latency at the fake MAG (p50/p99/max), PBAs
accepted, PBUs unanswered. A handover is completed when both its PBAs are
accepted and `pmip6ctl status` shows the binding active at the new MAG. LMA
RSS (VmRSS) and CPU time (utime + stime) come from /proc/<pid> at start,
after the registrations and after the handovers.

Data plane (bench/scale_traffic.py): from 1 s before the handovers until every
LMA buffer has closed, the CN sends --rate datagrams/s in all, round robin, to
the H moving MNs; each fake MAG counts what the LMA tunnels to it. Every
mover's stream is held by the LMA between its de-registration and its new
registration and released to the new MAG, so `packets_lost` is what the 100
concurrent buffers lost (`data_plane` also has duplicates and reordering).
The fake MAGs have no access link, so this measures the LMA, not the in-flight
window at the previous MAG (bench/handover.py covers that end to end).

Needs root. Progress goes to stderr; one JSON object is the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from scale_traffic import DataPlane

from pmipv6_lab import cli
from pmipv6_lab.cli import progress
from pmipv6_lab.plan import LMA_ADDRESS, DomainPlan, home_prefix, mn_mac, mn_nai, proxy_coa
from pmipv6_lab.testbed import session
from pmipv6_lab.testbed.domain import NamespaceDomain
from pmipv6_lab.testbed.fake_mag import FakeMag
from pmipv6_lab.testbed.netns import run

PROG = "bench/scale.py"
STEP_TIMEOUT = 30.0  # s a fake MAG waits for outstanding PBAs after its last PBU
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _bounded(name: str, low: int, high: int):
    return cli.number(int, low, high, name, echo_value=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(PROG, __doc__)
    parser.add_argument("--mns", type=_bounded("mns", 1, 0xFFFF), default=1000)
    parser.add_argument("--mags", type=_bounded("mags", 2, 16), default=4)
    parser.add_argument("--handovers", type=_bounded("handovers", 1, 0xFFFF), default=100)
    parser.add_argument(
        "--window", type=_bounded("window", 1, 1024), default=32, help="PBUs in flight per MAG"
    )
    parser.add_argument(
        "--rate",
        type=cli.number(float, 10, 20_000, "rate"),
        default=5000,
        help="datagrams/s to the moving MNs in all",
    )
    parser.add_argument("--keep-logs", type=Path, help="copy the LMA log here")
    cli.add_json_flag(parser)
    args = parser.parse_args(argv)
    if args.handovers > args.mns:
        raise cli.UsageError(f"--handovers {args.handovers} exceeds --mns {args.mns}")
    return args


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * fraction)) - 1]


def process_usage(pid: int) -> dict:
    rss_kb = session.process_memory(pid).get("VmRSS")
    # Fields after the parenthesised command name; utime and stime are 14 and 15.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return {"rss_kb": rss_kb, "cpu_s": round(cpu, 2)}


def pbu_spec(n: int, sequence: int, lifetime: int) -> dict:
    return {
        "mn_id": mn_nai(n),
        "prefixes": [str(home_prefix(n))],
        "sequence": sequence,
        "lifetime": lifetime,
        "link_layer": mn_mac(n).replace(":", ""),
    }


def step(fake_mags: dict[int, FakeMag], work: dict[int, list[dict]], window: int) -> dict:
    """Send each MAG's PBUs from its own thread at once; gather the results."""
    replies: dict[int, dict] = {}
    errors: list[BaseException] = []

    def drive(index: int) -> None:
        try:
            replies[index] = fake_mags[index].request(
                work[index], timeout=STEP_TIMEOUT, window=window
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=drive, args=(i,)) for i in work if work[i]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if errors:
        raise errors[0]
    results = [r for reply in replies.values() for r in reply["results"]]
    latencies = [r["latency_ms"] for r in results if r["latency_ms"] is not None]
    statuses: dict[str, int] = {}
    for r in results:
        name = r["pba"]["status_name"] if r["pba"] else "NO_PBA"
        statuses[name] = statuses.get(name, 0) + 1
    summary = {
        "pbus": len(results),
        "accepted": statuses.get("ACCEPTED", 0),
        "unanswered": statuses.get("NO_PBA", 0),
        "statuses": statuses,
        "seconds": round(elapsed, 3),
    }
    if latencies:
        summary.update(
            p50_ms=round(percentile(latencies, 0.5), 3),
            p99_ms=round(percentile(latencies, 0.99), 3),
            max_ms=round(max(latencies), 3),
            mean_ms=round(statistics.fmean(latencies), 3),
        )
    summary["_results"] = results
    return summary


def accepted_mns(summary: dict) -> set[str]:
    return {r["mn_id"] for r in summary["_results"] if r["pba"] and r["pba"]["status"] == 0}


def public(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if not k.startswith("_")}


def lma_route_count(domain: NamespaceDomain) -> int:
    out = run("ip", "-n", domain.ns("lma"), "-6", "route", "show", "table", "all", "proto", "157")
    return sum(1 for line in out.stdout.splitlines() if line.startswith("2001:db8:1:"))


def wait_for_buffers(domain: NamespaceDomain, done, timeout: float) -> int:
    """Wait until `done(buffers)` holds for the LMA's open buffers (a dict per MN);
    returns how many buffers were open when it did, or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        buffers = domain.ctl("lma", "status")["buffers"]["mns"]
        if done(buffers) or time.monotonic() > deadline:
            return len(buffers)
        time.sleep(0.1)


def drained(buffers: dict) -> bool:
    """Every buffer released its backlog and passes packets straight on."""
    return all(
        buffer["depth"] == 0 and buffer["state"] in ("passthrough", "closed")
        for buffer in buffers.values()
    )


def measure(domain: NamespaceDomain, args: argparse.Namespace) -> dict:
    mags = args.mags
    lma_pid = domain.daemons["lma"].process.pid
    usage = {"start": process_usage(lma_pid)}
    fake_mags = {
        i: FakeMag(domain, f"mag{i}", proxy_coa(i), LMA_ADDRESS) for i in range(1, mags + 1)
    }
    try:
        home = {n: (n - 1) % mags + 1 for n in range(1, args.mns + 1)}
        work: dict[int, list[dict]] = {i: [] for i in fake_mags}
        for n, index in home.items():
            work[index].append(pbu_spec(n, 1, 300))
        progress(f"registering {args.mns} MNs through {mags} fake MAGs")
        registration = step(fake_mags, work, args.window)
        status = domain.ctl("lma", "status")
        usage["after_registration"] = process_usage(lma_pid)
        bound = sum(1 for e in status["binding_cache"] if e["state"] == "active")
        routes_after_registration = lma_route_count(domain)
        progress(
            f"registered: {registration['accepted']} accepted, {bound} bound, "
            f"p50 {registration.get('p50_ms')} ms"
        )

        stride = args.mns / args.handovers
        movers = sorted({int(i * stride) + 1 for i in range(args.handovers)})
        target = {n: home[n] % mags + 1 for n in movers}
        dereg: dict[int, list[dict]] = {i: [] for i in fake_mags}
        reg: dict[int, list[dict]] = {i: [] for i in fake_mags}
        for n in movers:
            dereg[home[n]].append(pbu_spec(n, 2, 0))
            reg[target[n]].append(pbu_spec(n, 3, 300))
        progress(f"streaming {args.rate:g} datagrams/s to the {len(movers)} movers")
        plane = DataPlane(domain, domain.mag_names, movers, home_prefix, args.rate)
        try:
            time.sleep(1.0)
            progress(f"{len(movers)} handovers at once: de-registrations, then registrations")
            handover_started = time.monotonic()
            deregistration = step(fake_mags, dereg, window=len(movers))
            registration_new = step(fake_mags, reg, window=len(movers))
            handover_seconds = time.monotonic() - handover_started
            usage["after_handovers"] = process_usage(lma_pid)
            progress("waiting for every LMA buffer to release its backlog")
            wait_for_buffers(domain, drained, timeout=30.0)
        finally:
            data_plane = plane.finish()
        # A buffer's rule goes after its flow has paused for idle_close; the stream
        # has stopped, so all of them should close now.
        buffers_open = wait_for_buffers(domain, lambda b: not b, timeout=10.0)
        progress(
            f"data plane: {data_plane['sent']} sent, {data_plane['lost']} lost, "
            f"{data_plane['reordered']} reordered"
        )

        final_status = domain.ctl("lma", "status")
        final = {e["mn_id"]: e for e in final_status["binding_cache"]}
        counters = final_status["counters"]
        dereg_ok, reg_ok = accepted_mns(deregistration), accepted_mns(registration_new)
        completed = 0
        for n in movers:
            mn = mn_nai(n)
            entry = final.get(mn) or {}
            if (
                mn in dereg_ok
                and mn in reg_ok
                and entry.get("state") == "active"
                and entry.get("proxy_coa") == str(proxy_coa(target[n]))
            ):
                completed += 1
    finally:
        for fake in fake_mags.values():
            fake.close()

    return {
        "mns": args.mns,
        "mags": mags,
        "handovers": len(movers),
        "window": args.window,
        "buffering": status["buffering"],
        "tunnel_driver": status.get("tunnel_driver"),
        "registration": {
            **public(registration),
            "bound": bound,
            "lma_routes": routes_after_registration,
        },
        "handover": {
            "deregistration": public(deregistration),
            "registration": public(registration_new),
            "completed": completed,
            "seconds": round(handover_seconds, 3),
            "lma_routes": lma_route_count(domain),
        },
        "packets_lost": data_plane["lost"],
        "data_plane": {**data_plane, "rate_pps": args.rate, "buffers_open_at_end": buffers_open},
        "lma": {
            "rss_kb": {k: v["rss_kb"] for k, v in usage.items()},
            "cpu_s": {k: v["cpu_s"] for k, v in usage.items()},
            "counters": {
                k: v for k, v in sorted(counters.items()) if not k.startswith("rejected.") or v
            },
        },
        "note": (
            "fake MAGs (raw MH sockets; the LMA's tunnelled packets are counted at the MAG "
            "address); latency is PBU sendto -> PBA recv at the fake MAG"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    args = cli.command_line(PROG, parse_args, argv)
    if args is None:
        return 2
    with tempfile.TemporaryDirectory(prefix="pmip6-scale-") as tmp:
        # The MNs are in the policy only: the fake MAGs attach them.
        plan = DomainPlan(args.mags, args.mns, mn_nodes=False)
        domain = NamespaceDomain(Path(tmp), plan=plan, buffering=True)
        try:
            progress(f"building a domain with {args.mags} MAG namespaces")
            domain.build()
            domain.write_configs()
            domain.start("lma")
            result = measure(domain, args)
        finally:
            if args.keep_logs:
                domain.keep_logs(args.keep_logs)
            domain.destroy()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
