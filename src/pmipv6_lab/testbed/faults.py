"""Fault scenarios in a namespace domain: lost signalling, dead daemons, overload.

Shared by tests/netns/test_faults.py, which asserts only what must hold (no
timing bounds beyond generous ones), and bench/faults.py and bench/overload.py,
which run them with larger numbers and print the figures as JSON.
"""

from __future__ import annotations

import signal
import time
from ipaddress import IPv6Network
from pathlib import Path

from pmip6d.probe import read_receive_log
from pmipv6_lab.plan import HOME_PREFIXES, mn_nai, proxy_coa
from pmipv6_lab.testbed.domain import NamespaceDomain
from pmipv6_lab.testbed.session import process_memory
from pmipv6_lab.testbed.traffic import handover_under_traffic, stream_across

MN = mn_nai(1)
MAGS = ("mag1", "mag2")

# Short PBU retransmission timers for the lost-signalling test: a retransmission
# every 0.5-1 s instead of 1.5 s doubling to 32 s, so that even six losses in a
# row end well inside the LMA buffer's 10 s hold time.
FAST_RETRANSMISSION = {
    "initial_bindack_timeout_first_reg": 0.5,
    "initial_bindack_timeout": 0.5,
    "max_bindack_timeout": 1.0,
    "max_pbu_retransmissions": 30,
}


# -- observing the domain ------------------------------------------------------


def binding(domain: NamespaceDomain) -> dict | None:
    entries = domain.ctl("lma", "status")["binding_cache"]
    return next((e for e in entries if e["mn_id"] == MN), None)


def bound_at(domain: NamespaceDomain, index: int) -> bool:
    entry = binding(domain)
    return (
        entry is not None
        and entry["state"] == "active"
        and entry["proxy_coa"] == str(proxy_coa(index))
    )


def update_list(domain: NamespaceDomain, mag: str) -> list[dict]:
    return domain.ctl(mag, "status")["binding_update_list"]


def buffer_rules(domain: NamespaceDomain) -> list[str]:
    """The LMA's per-prefix NFQUEUE rules (`-A PMIP6-BUFFER -d ...`)."""
    out = domain.exec("lma", "ip6tables", "-t", "mangle", "-S", "PMIP6-BUFFER", check=False)
    return [line for line in out.stdout.splitlines() if line.startswith("-A PMIP6-BUFFER -d")]


def buffer_rule_packets(domain: NamespaceDomain) -> int:
    """Packets the LMA's per-prefix NFQUEUE rules have matched (their ip6tables counters)."""
    out = domain.exec(
        "lma", "ip6tables", "-t", "mangle", "-L", "PMIP6-BUFFER", "-v", "-x", "-n", check=False
    ).stdout
    return sum(int(line.split()[0]) for line in out.splitlines() if "NFQUEUE" in line)


def owned_routes(domain: NamespaceDomain, node: str = "lma") -> list[str]:
    """Every route carrying pmip6d's protocol number (157), all tables."""
    out = domain.ip(node, "-6", "route", "show", "table", "all", "proto", "157").stdout
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def prefix_routes(routes: list[str]) -> list[str]:
    """The routes (from `owned_routes`) for a prefix of the MNs' home prefixes."""
    return [route for route in routes if _in_home_prefixes(route.split()[0])]


def _in_home_prefixes(destination: str) -> bool:
    try:
        return IPv6Network(destination).subnet_of(HOME_PREFIXES)
    except ValueError:  # "default", a route type
        return False


def snmp6(domain: NamespaceDomain, node: str) -> dict[str, int]:
    """The namespace's IPv6 MIB counters (/proc/net/snmp6 is per network namespace)."""
    out = domain.exec(node, "cat", "/proc/net/snmp6").stdout
    return {name: int(value) for name, value in (line.split() for line in out.splitlines())}


def lma_memory(domain: NamespaceDomain) -> dict[str, int]:
    """The LMA daemon's VmRSS and VmHWM (KiB)."""
    process = domain.daemons["lma"].process
    assert process is not None
    return process_memory(process.pid)


def last_buffer(domain: NamespaceDomain) -> dict:
    buffers = domain.ctl("lma", "status")["buffers"]
    return buffers["mns"].get(MN) or buffers["last_closed"][MN]


def arrivals_ns(workdir: Path) -> list[int]:
    """Receive times (CLOCK_REALTIME ns) of every arrival of the last stream in `workdir`."""
    return sorted(recv_ns for _, _, recv_ns in read_receive_log(workdir / "recv.csv").rows())


def resumed_after(arrivals: list[int], since_ns: int) -> float | None:
    """Seconds from `since_ns` to the first arrival after it (None: nothing came)."""
    later = [t for t in arrivals if t > since_ns]
    return None if not later else round((later[0] - since_ns) / 1e9, 3)


def silent_between(arrivals: list[int], start_ns: int, end_ns: int) -> bool:
    return not any(start_ns < t < end_ns for t in arrivals)


def running(domain: NamespaceDomain) -> bool:
    return domain.running()


# -- 3. lost signalling ----------------------------------------------------------


def drop_signalling(domain: NamespaceDomain, probability: float) -> None:
    """Drop `probability` of the Mobility Header messages leaving each MAG (PBUs)
    and the LMA (PBAs), at random."""
    for node in ("lma", *domain.mag_names):
        domain.exec(
            node, "ip6tables", "-A", "OUTPUT", "-p", "135", "-m", "statistic",
            "--mode", "random", "--probability", f"{probability:g}", "-j", "DROP",
        )  # fmt: skip


def signalling_counts(domain: NamespaceDomain) -> dict[str, dict[str, int]]:
    """Per node: Mobility Header messages dropped by the statistic rule; per MAG also
    PBUs sent, retransmissions and give-ups from its status."""
    result = {}
    for node in ("lma", *domain.mag_names):
        out = domain.exec(node, "ip6tables", "-L", "OUTPUT", "-v", "-x", "-n").stdout
        dropped = sum(int(line.split()[0]) for line in out.splitlines() if "statistic" in line)
        result[node] = {"dropped": dropped}
        if node != "lma":
            counters = domain.ctl(node, "status")["counters"]
            for key in ("pbu_sent", "retransmissions", "give_ups"):
                result[node][key] = counters.get(key, 0)
    return result


def repeated_handovers(
    domain: NamespaceDomain,
    workdir: Path,
    rate: float,
    handovers: int,
    gap: float = 0.2,
    per_handover: float = 5.0,
    settle_timeout: float = 40.0,
    announced: bool = True,
) -> dict:
    """`handovers` handovers back and forth (1->2, 2->1, ...) under one stream; each waits
    until the LMA binds the MN at the new MAG and the old MAG's de-registration is
    acknowledged. The stream lasts 1 + handovers x per_handover + 3 s. `announced`:
    the old MAG is told of each detach before the link goes."""
    durations: list[float] = []
    completed: list[int] = []
    access_drops = {mag: domain.access_link_drops(mag) for mag in domain.mag_names}

    def during() -> None:
        at = 1
        for number in range(1, handovers + 1):
            to = 2 if at == 1 else 1
            began = time.monotonic()
            domain.handover(at, to, gap, announced)
            domain.wait_for(
                lambda to=to: bound_at(domain, to),
                f"handover {number}: the binding at mag{to}",
                timeout=settle_timeout,
                interval=0.02,
            )
            # The new MAG has its PBA too (the LMA may have accepted a PBU whose PBA
            # was lost: the MAG is still retransmitting) ...
            domain.wait_for(
                lambda to=to: (
                    [e["state"] for e in update_list(domain, f"mag{to}")] == ["registered"]
                ),
                f"handover {number}: mag{to}'s registration acknowledged",
                timeout=settle_timeout,
                interval=0.02,
            )
            # ... and the old MAG's de-registration is acknowledged.
            domain.wait_for(
                lambda at=at: update_list(domain, f"mag{at}") == [],
                f"handover {number}: mag{at}'s de-registration acknowledged",
                timeout=settle_timeout,
                interval=0.02,
            )
            durations.append(round(time.monotonic() - began, 3))
            completed.append(to)
            at = to

    report = stream_across(
        domain, workdir, rate, 1.0 + handovers * per_handover + 3.0, during, lead=1.0
    )
    status = domain.ctl("lma", "status")
    lma_counters = status["counters"]
    buffers = status["buffers"]
    stats = buffers["mns"].get(MN) or buffers["last_closed"].get(MN) or {}
    return {
        "report": report,
        "completed": completed,
        "handover_s": durations,
        "signalling": signalling_counts(domain),
        # Packets past routing at the old MAG when the link broke (abrupt detach
        # only): lost to any buffer.
        "access_link_drops": sum(domain.access_link_drops(m) - n for m, n in access_drops.items()),
        # Why packets can arrive out of order (docs/buffering.md): the new MAG's PBU
        # reached the LMA before the old MAG's de-registration (handoff), or the
        # old MAG's hand-back came after the release had begun (handed_back_late).
        "lma_counters": {
            key: lma_counters.get(key, 0)
            for key in ("handoff", "de_registration", "de_registration_from_old_mag")
        },
        "buffer": {key: stats.get(key) for key in ("handed_back", "handed_back_late", "peak")},
    }


# -- 4. dead daemons -------------------------------------------------------------


def lma_killed_while_buffering(domain: NamespaceDomain, workdir: Path, rate: float = 1000) -> dict:
    """MN detached from MAG1 (the LMA buffers), LMA SIGKILLed, restarted, MN attached
    at MAG2. Returns what was seen at each step."""
    seen: dict = {}

    def during() -> None:
        domain.detach(1)
        domain.wait_for(lambda: buffer_rules(domain), "the LMA to buffer the MN", timeout=10)
        domain.stop("lma", signal.SIGKILL)
        seen["killed_ns"] = time.time_ns()
        seen["rules_after_kill"] = buffer_rules(domain)
        seen["routes_after_kill"] = owned_routes(domain)
        rule_before, mib_before = buffer_rule_packets(domain), snmp6(domain, "lma")
        time.sleep(1.0)
        rule_after, mib_after = buffer_rule_packets(domain), snmp6(domain, "lma")
        # Fails open: packets still match the NFQUEUE rule, but with no reader the
        # kernel lets them pass (--queue-bypass) and they reach routing, where
        # there is no route for the prefix (the MN is attached nowhere).
        seen["dead_window"] = {
            "rule_packets": rule_after - rule_before,
            "Ip6InNoRoutes": mib_after["Ip6InNoRoutes"] - mib_before["Ip6InNoRoutes"],
            "Ip6InReceives": mib_after["Ip6InReceives"] - mib_before["Ip6InReceives"],
        }
        seen["restart_ns"] = time.time_ns()
        domain.start("lma")
        seen["rules_after_restart"] = buffer_rules(domain)
        seen["routes_after_restart"] = owned_routes(domain)
        seen["binding_cache_after_restart"] = domain.ctl("lma", "status")["binding_cache"]
        seen["attach_ns"] = time.time_ns()
        domain.attach(2)
        domain.wait_for(lambda: bound_at(domain, 2), "the binding at mag2", timeout=15)
        seen["routes_after_attach"] = owned_routes(domain)

    seen["report"] = stream_across(domain, workdir, rate, 9.0, during, lead=1.0)
    arrivals = arrivals_ns(workdir)
    seen["resumed_after_attach_s"] = resumed_after(arrivals, seen["attach_ns"])
    seen["resumed_after_restart_s"] = resumed_after(arrivals, seen["restart_ns"])
    return seen


def lma_restarted_under_attached_mn(
    domain: NamespaceDomain, workdir: Path, rate: float = 1000
) -> dict:
    """The MN stays at MAG1 while the LMA is SIGKILLed and restarted. The restarted
    LMA removes its predecessor's routes at start and announces its new Restart
    Counter (RFC 5847); MAG1 re-registers the MN on the announcement."""
    seen: dict = {"lifetime": binding(domain)["lifetime"]}

    def during() -> None:
        domain.stop("lma", signal.SIGKILL)
        seen["killed_ns"] = time.time_ns()
        seen["routes_after_kill"] = owned_routes(domain)
        time.sleep(0.5)
        seen["restart_ns"] = time.time_ns()
        domain.start("lma")
        domain.wait_for(
            lambda: bound_at(domain, 1), "MAG1 to register the MN again", timeout=10, interval=0.01
        )
        seen["rebound_ns"] = time.time_ns()
        seen["rules_after_restart"] = buffer_rules(domain)

    seen["report"] = stream_across(domain, workdir, rate, 4.0, during, lead=1.0)
    arrivals = arrivals_ns(workdir)
    seen["flowing_while_dead"] = not silent_between(arrivals, seen["killed_ns"], seen["restart_ns"])
    # The outage: the longest silence from the restart until a second after the rebinding.
    window = [t for t in arrivals if seen["restart_ns"] <= t <= seen["rebound_ns"] + 1_000_000_000]
    seen["outage_s"] = (
        round(max(b - a for a, b in zip(window, window[1:], strict=False)) / 1e9, 3)
        if len(window) > 1
        else None
    )
    seen["mag1_counters"] = domain.ctl("mag1", "status")["counters"]
    return seen


def mag_killed_with_mn_attached(domain: NamespaceDomain, workdir: Path, rate: float = 500) -> dict:
    """MAG1 SIGKILLed with the MN attached, restarted, the MN solicits again."""
    seen: dict = {}

    def during() -> None:
        domain.stop("mag1", signal.SIGKILL)
        seen["killed_ns"] = time.time_ns()
        time.sleep(0.5)
        seen["restart_ns"] = time.time_ns()
        domain.start("mag1")
        seen["restarted_ns"] = time.time_ns()
        seen["routes_after_restart"] = owned_routes(domain, "mag1")
        domain.solicit()
        seen["solicited_ns"] = time.time_ns()
        domain.wait_for(lambda: update_list(domain, "mag1"), "MAG1 to register the MN again")

    seen["report"] = stream_across(domain, workdir, rate, 6.0, during, lead=1.0)
    arrivals = arrivals_ns(workdir)
    seen["flowing_while_dead"] = not silent_between(arrivals, seen["killed_ns"], seen["restart_ns"])
    seen["outage_from_restart_s"] = resumed_after(arrivals, seen["restarted_ns"])
    last_before = [t for t in arrivals if t <= seen["restarted_ns"]]
    first_after = [t for t in arrivals if t > seen["restarted_ns"]]
    seen["interruption_s"] = (
        round((first_after[0] - last_before[-1]) / 1e9, 3) if last_before and first_after else None
    )
    return seen


# -- 5. overload -----------------------------------------------------------------


def overload(
    domain: NamespaceDomain, workdir: Path, rate: float, gap: float, announced: bool = True
) -> dict:
    """One handover with a link gap longer than the LMA's buffer holds."""
    before = lma_memory(domain)
    access_drops = domain.access_link_drops("mag1")
    report = handover_under_traffic(
        domain, workdir, rate, gap, lead=1.0, tail=3.0, announced=announced
    )
    return {
        "report": report,
        "buffer": last_buffer(domain),
        "rss_before": before,
        "rss_after": lma_memory(domain),
        # Packets past routing at MAG1 when the MN's link broke (abrupt detach only):
        # dropped by the kernel on the dead access link, beyond any buffer
        # (docs/buffering.md).
        "access_link_drops": domain.access_link_drops("mag1") - access_drops,
    }
