"""After attach: mn1 on the MAG of its access link that is up: mag1 in a
fresh lab (site.yml brings eth1 up), mag2 after an odd number of handovers.

The LMA routes mn1's home prefix into the tunnel to mag1 (protocol 157; an
ip6tnl device, a seg6 or a bpf encapsulation, whichever the kernel has), mag1
sends everything from the prefix to the LMA (policy rule, priority 1010), the
binding cache and the binding update list say so, and no buffering rule is in
place while no handover runs. The handover tests (test_handover.py) make two
handovers, so the MN is back on mag1 after them.
"""

from __future__ import annotations

import json
import os
import time

import pytest

MN_ID = "mn1@pmipv6.lab"
PREFIX = "2001:db8:1:1::/64"
MAG_COA = {"mag1": "2001:db8:ffff::11", "mag2": "2001:db8:ffff::12"}
ROUTE_PROTOCOL = "157"
SOURCE_RULE_PRIORITY = 1010
BUFFER_CHAIN = "PMIP6-BUFFER"
# The MN's access links (lab/pmipv6.clab.yml): eth1 to mag1, eth2 to mag2.
LINK_MAG = {"eth1": "mag1", "eth2": "mag2"}


@pytest.fixture
def at(hosts) -> str:
    """The MAG the MN is attached to: the one behind its access link that is up."""
    links = json.loads(hosts["mn"].check_output("ip -json link show"))
    up = [li["ifname"] for li in links if li["ifname"] in LINK_MAG and "UP" in li["flags"]]
    assert len(up) == 1, f"the MN should have exactly one access link up, has {up}"
    return LINK_MAG[up[0]]


def test_fresh_lab_attaches_at_mag1(lab, at):
    """site.yml brings up eth1; the handover tests end where they started."""
    if os.environ.get("PMIPV6_LAB_REUSE") == "1":
        pytest.skip("PMIPV6_LAB_REUSE=1: the lab may have made handovers before this session")
    assert at == "mag1"


def eventually(check, timeout: float = 20.0, interval: float = 0.5):
    """Retry check() until it returns without AssertionError; re-raise the last one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(interval)


def status(host) -> dict:
    return json.loads(host.check_output("pmip6ctl status --json"))


def test_lma_routes_prefix_into_tunnel_to_current_mag(hosts, at):
    def check():
        routes = json.loads(
            hosts["lma"].check_output(f"ip -d -json -6 route show exact {PREFIX}") or "[]"
        )
        assert len(routes) == 1, routes
        (route,) = routes
        assert route.get("protocol") == ROUTE_PROTOCOL, route
        if route.get("encap") == "seg6":
            assert route.get("mode") == "encap.red", route
            assert route.get("segs") == [MAG_COA[at]], route
        elif route.get("encap") == "bpf":  # the peer is inside the program: check the way out
            assert route.get("xmit") == "pmip6_encap", route
            toward = json.loads(hosts["lma"].check_output(f"ip -json -6 route get {MAG_COA[at]}"))
            assert route["dev"] == toward[0]["dev"], (route, toward)
        else:  # ip6tnl driver: a tunnel device toward mag1
            link = json.loads(hosts["lma"].check_output(f"ip -d -json link show {route['dev']}"))
            assert link[0]["linkinfo"]["info_kind"] == "ip6tnl", link
            assert link[0]["linkinfo"]["info_data"]["remote"] == MAG_COA[at], link

    eventually(check)


@pytest.mark.parametrize("mag", ["mag1", "mag2"])
def test_mag_source_rule(hosts, at, mag):
    """The serving MAG sends the MN's traffic to the LMA; the other has no rule."""
    present = mag == at

    def check():
        rules = json.loads(hosts[mag].check_output("ip -json -6 rule show"))
        mine = [
            r
            for r in rules
            if f"{r.get('src')}/{r.get('srclen')}" == PREFIX
            and r.get("priority") == SOURCE_RULE_PRIORITY
        ]
        assert bool(mine) == present, rules
        if present:
            table = mine[0]["table"]
            default = json.loads(
                hosts[mag].check_output(f"ip -json -6 route show table {table} default") or "[]"
            )
            assert default and default[0].get("protocol") == ROUTE_PROTOCOL, default

    eventually(check)


def test_binding_cache_mn1_at_current_mag(hosts, at):
    def check():
        entries = [e for e in status(hosts["lma"])["binding_cache"] if e["mn_id"] == MN_ID]
        assert len(entries) == 1, entries
        (entry,) = entries
        assert entry["proxy_coa"] == MAG_COA[at], entry
        assert entry["state"] == "active", entry
        assert entry["prefixes"] == [PREFIX], entry

    eventually(check)


@pytest.mark.parametrize("mag", ["mag1", "mag2"])
def test_binding_update_list(hosts, at, mag):
    registered = mag == at

    def check():
        bul = {e["mn_id"]: e for e in status(hosts[mag])["binding_update_list"]}
        if registered:
            assert bul.get(MN_ID, {}).get("state") == "registered", bul
        else:
            assert bul.get(MN_ID, {}).get("state") != "registered", bul

    eventually(check)


@pytest.mark.parametrize("mag", ["mag1", "mag2"])
def test_mags_hold_the_lmas_restart_counter(hosts, mag):
    """RFC 5847 heartbeats run in the containers: each MAG has heard from the LMA
    (its answer to the MAG's start-up request, or the LMA's announcement)."""

    def check():
        heartbeat = status(hosts[mag])["heartbeat"]
        assert heartbeat["peer"] == "2001:db8:ffff::1", heartbeat
        assert heartbeat["responses"] >= 1, heartbeat
        assert heartbeat["peer_restart_counter"] is not None, heartbeat
        assert heartbeat["unreachable"] is False, heartbeat

    eventually(check)


def buffer_rules(host) -> list[str]:
    """NFQUEUE rules in the LMA's mangle table (PMIP6-BUFFER or anywhere else)."""
    out = host.check_output("ip6tables -w -t mangle -S")
    return [line for line in out.splitlines() if "NFQUEUE" in line]


def test_no_buffering_rule_when_idle(hosts):
    """Outside a handover nothing is queued: no NFQUEUE rule on the LMA (the
    PMIP6-BUFFER chain may exist, empty). After a handover the rule goes once
    the flow has been quiet for idle_close, hence the wait."""
    eventually(lambda: _assert_no_rules(hosts["lma"]), timeout=30)


def _assert_no_rules(host) -> None:
    rules = buffer_rules(host)
    assert rules == [], f"NFQUEUE rules while idle: {rules}"
    chain = host.run(f"ip6tables -w -t mangle -S {BUFFER_CHAIN}")
    if chain.rc == 0:
        assert [ln for ln in chain.stdout.splitlines() if ln.startswith("-A")] == [], chain.stdout
