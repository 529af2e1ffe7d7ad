"""Faults: lost signalling, dead daemons, overload (root, real daemons, real streams).

The scenarios are in pmipv6_lab/testbed/faults.py, shared with bench/faults.py
and bench/overload.py; the tests assert only what must hold (no timing bounds
beyond generous ones).
"""

from __future__ import annotations

from pmipv6_lab.testbed.domain import NamespaceDomain
from pmipv6_lab.testbed.faults import (
    FAST_RETRANSMISSION,
    MAGS,
    bound_at,
    drop_signalling,
    lma_killed_while_buffering,
    lma_restarted_under_attached_mn,
    mag_killed_with_mn_attached,
    overload,
    prefix_routes,
    repeated_handovers,
    running,
)


def started(domain_factory, **options) -> NamespaceDomain:
    domain = domain_factory(**options)
    domain.start_all()
    domain.wait_for(domain.mn_address, "the MN's SLAAC address", timeout=20)
    return domain


def test_handovers_complete_by_retransmission_with_30_percent_signalling_lost(
    domain_factory, tmp_path
):
    domain = started(domain_factory, buffering=True, extra_protocol=FAST_RETRANSMISSION)
    drop_signalling(domain, 0.3)
    result = repeated_handovers(domain, tmp_path / "run", rate=500, handovers=4)
    report, signalling = result["report"], result["signalling"]
    assert result["completed"] == [2, 1, 2, 1]
    assert bound_at(domain, 1)
    # Each old MAG was told of the detach before its link went: nothing is lost.
    assert (report.lost, report.duplicates) == (0, 0), (report.to_text(), result)
    dropped = sum(node["dropped"] for node in signalling.values())
    retransmissions = sum(signalling[mag]["retransmissions"] for mag in MAGS)
    # Every dropped PBU or PBA costs the MAG a retransmission; none gave up.
    assert (dropped > 0) == (retransmissions > 0), signalling
    assert all(signalling[mag]["give_ups"] == 0 for mag in MAGS), signalling
    print(result["handover_s"], signalling, report.to_text())


def test_lma_killed_while_buffering_fails_open_and_restarts_clean(domain_factory, tmp_path):
    domain = started(domain_factory, buffering=True)
    seen = lma_killed_while_buffering(domain, tmp_path / "run")
    # The dead LMA's rule stays in the kernel, but it does not swallow the packets.
    assert len(seen["rules_after_kill"]) == 1, seen
    window = seen["dead_window"]
    assert window["rule_packets"] >= 500, seen  # ~1000 packets/s for 1 s hit the rule ...
    assert window["Ip6InNoRoutes"] >= 0.9 * window["rule_packets"], seen  # ... and were routed
    # The restarted LMA removed its predecessor's rule; the only routes it owns before
    # any PBU are its own start-time decapsulation routes (End.DT6), none for a prefix.
    assert seen["rules_after_restart"] == [], seen
    assert prefix_routes(seen["routes_after_restart"]) == [], seen
    assert all("End.DT6" in route for route in seen["routes_after_restart"]), seen
    assert seen["binding_cache_after_restart"] == []
    # MAG2's PBU re-creates the binding and the prefix route.
    assert len(prefix_routes(seen["routes_after_attach"])) == 1, seen
    assert seen["resumed_after_attach_s"] is not None, seen["report"].to_text()
    assert seen["resumed_after_attach_s"] < 5.0, seen
    assert running(domain)


def test_lma_restart_with_the_mn_attached_recovers_on_its_heartbeat_announcement(
    domain_factory, tmp_path
):
    domain = started(domain_factory, buffering=True)
    seen = lma_restarted_under_attached_mn(domain, tmp_path / "run")
    report = seen["report"]
    # The kernel state outlives the killed daemon: the stream keeps flowing ...
    assert seen["flowing_while_dead"], report.to_text()
    assert len(prefix_routes(seen["routes_after_kill"])) == 1, seen  # the dead LMA's route
    # ... the restart removes it, and MAG1 re-registers at once on the LMA's
    # announcement, long before its refresh (0.8 x lifetime) would have.
    assert seen["mag1_counters"]["lma_restarts"] == 1, seen
    assert seen["mag1_counters"]["reregistrations_after_lma_restart"] == 1, seen
    assert seen["outage_s"] is not None and seen["outage_s"] < 1.0, (seen, report.lost_ranges)
    assert seen["lifetime"] > 60  # so a refresh cannot be what brought it back
    assert seen["rules_after_restart"] == []
    assert report.duplicates == 0
    assert running(domain)


def test_mag_killed_with_the_mn_attached_recovers_after_a_solicitation(domain_factory, tmp_path):
    domain = started(domain_factory, buffering=True)
    seen = mag_killed_with_mn_attached(domain, tmp_path / "run")
    report = seen["report"]
    assert seen["outage_from_restart_s"] is not None, report.to_text()
    assert seen["outage_from_restart_s"] < 5.0, seen
    assert bound_at(domain, 1)
    assert report.duplicates == 0
    assert running(domain)


def test_overload_drops_what_is_over_the_limit_counts_it_and_keeps_order(domain_factory, tmp_path):
    domain = started(
        domain_factory, buffering=True, extra_lma={"buffering": {"max_packets_per_mn": 1000}}
    )
    result = overload(domain, tmp_path / "run", rate=2000, gap=1.5)
    report, stats = result["report"], result["buffer"]
    assert stats["peak"] == 1000, stats
    assert stats["dropped"]["per_mn_packets"] > 0, stats
    # Every lost packet is one the LMA's buffer counted.
    assert report.lost == stats["dropped_total"], (report.to_text(), stats)
    assert (report.reordered, report.duplicates) == (0, 0), report.to_text()
    assert report.received >= 1000 + 2000 * 3.0 * 0.9  # the buffer's 1000 and the tail
    # Memory: the held packets live in the kernel queue, not in the daemon.
    assert result["rss_after"]["VmRSS"] < result["rss_before"]["VmRSS"] + 100 * 1024
    assert running(domain)
