"""The PMIPv6 data path through real tunnels between namespaces, for each driver.

This is the recipe the daemon relies on: LMA routes the MN prefix into the
tunnel to the MAG, the MAG decapsulates and delivers on the access link, the
MN's replies are caught by the MAG's source rule and tunnelled back, the LMA
decapsulates and forwards to the CN.
"""

import asyncio
import json
import time
from ipaddress import IPv6Address, IPv6Network

import pytest

from pmip6d.io import ownership
from pmip6d.io.route_request import Seg6Encap
from pmip6d.io.tunnels import PeerPath, Seg6Driver, TunnelDriver, TunnelError, select_driver
from tests.io.pmip_path import (
    CN_ADDRESS,
    LMA_ADDRESS,
    MN_ADDRESS,
    MN_PREFIX,
    build_pmip_path,
    capture,
    in_ns,
    mag_address,
    route_requests,
    route_socket,
    tshark_fields,
    tunnel_driver,
)

PREFIX = IPv6Network(MN_PREFIX)
SEG6_IPTUN_MODE_ENCAP = 1  # include/uapi/linux/seg6_iptunnel.h
LMA = IPv6Address(LMA_ADDRESS)


def ping(ns: str, destination: str, count: int = 3) -> bool:
    result = in_ns(ns, "ping", "-c", str(count), "-i", "0.2", "-W", "1", destination, check=False)
    return result.returncode == 0


# How each driver's route into a tunnel shows in `ip -6 route`.
TUNNEL_ROUTE = {"seg6": "encap seg6 mode encap.red", "bpf": "encap bpf xmit pmip6_encap"}


def decapsulation_filter(ns: str, ifname: str) -> str:
    return in_ns(ns, "tc", "filter", "show", "dev", ifname, "ingress").stdout


async def attach_mag(ns: dict, number: int, driver_name: str) -> TunnelDriver:
    mag = IPv6Address(mag_address(number))
    driver = await tunnel_driver(ns[f"mag{number}"], driver_name)
    await driver.enable_decapsulation(mag)
    await driver.route_source_prefix_to_peer(PREFIX, LMA)
    in_ns(ns[f"mag{number}"], "ip", "-6", "route", "add", MN_PREFIX, "dev", "acc")
    return driver


async def set_up_tunnel(ns: dict, driver_name: str) -> tuple[TunnelDriver, TunnelDriver]:
    lma = await tunnel_driver(ns["lma"], driver_name)
    await lma.enable_decapsulation(LMA)
    await lma.route_prefix_to_peer(PREFIX, IPv6Address(mag_address(1)))
    return lma, await attach_mag(ns, 1, driver_name)


def kernel_offers(ns: str, *argv: str) -> bool:
    return in_ns(ns, *argv, check=False).returncode == 0


def test_auto_selects_the_first_driver_the_kernel_offers(namespaces):
    ns = namespaces.add("probe")

    async def scenario():
        ipr = await route_socket(ns)
        driver = await select_driver("auto", ipr, route_requests(ns))
        leftovers = [r async for r in await ipr.get_routes(family=10, proto=157)]
        links = [link.get("ifname") async for link in await ipr.get_links()]
        ipr.close()
        return driver.name, leftovers, links

    name, leftovers, links = asyncio.run(scenario())
    # Asked of the kernel with iproute2, independently of the daemon's own probes.
    has_ip6tnl = kernel_offers(ns, "ip", "link", "add", "t", "type", "ip6tnl")
    has_seg6 = kernel_offers(
        ns, "ip", "-6", "route", "add", "2001:db8:9::/64", "encap", "seg6", "mode", "encap",
        "segs", "2001:db8::1", "dev", "lo",
    )  # fmt: skip
    assert name == ("ip6tnl" if has_ip6tnl else "seg6" if has_seg6 else "bpf")
    assert leftovers == [] and links == ["lo"] + (["t"] if has_ip6tnl else [])


def test_unknown_driver_setting_is_rejected(namespaces):
    ns = namespaces.add("probe")

    async def scenario():
        ipr = await route_socket(ns)
        try:
            await select_driver("gre", ipr, route_requests(ns))
        finally:
            ipr.close()

    with pytest.raises(ValueError, match="gre"):
        asyncio.run(scenario())


def test_an_explicit_driver_the_kernel_lacks_says_why(namespaces):
    ns = namespaces.add("probe")
    has_seg6 = kernel_offers(
        ns, "ip", "-6", "route", "add", "2001:db8:9::/64", "encap", "seg6", "mode", "encap",
        "segs", "2001:db8::1", "dev", "lo",
    )  # fmt: skip
    if has_seg6:
        pytest.skip("this kernel has seg6 tunnels; the refusal cannot be seen here")
    with pytest.raises(TunnelError, match="seg6 requested but the kernel has no seg6"):
        asyncio.run(tunnel_driver(ns, "seg6"))


def test_ping_crosses_both_tunnel_directions_as_plain_ipv6_in_ipv6(
    namespaces, tmp_path, driver_name
):
    ns = build_pmip_path(namespaces)
    asyncio.run(set_up_tunnel(ns, driver_name))
    pcap = str(tmp_path / "lma-mag.pcap")

    with capture(namespaces, ns["lma"], "mag1", pcap, "ip6 and not icmp6"):
        assert ping(ns["cn"], MN_ADDRESS)

    outer = tshark_fields(pcap, "ipv6", "ipv6.src", "ipv6.dst", "ipv6.nxt")
    assert outer, "nothing crossed the LMA-MAG link"
    downlink = [f for f in outer if f[0].startswith(f"{LMA_ADDRESS},{CN_ADDRESS}")]
    uplink = [f for f in outer if f[0].startswith(f"{mag_address(1)},{MN_ADDRESS}")]
    assert len(downlink) >= 3 and len(uplink) >= 3
    # Outer header then inner header: next header 41, then ICMPv6, nothing between.
    assert all(f[2].startswith("41,58") for f in downlink + uplink)
    assert tshark_fields(pcap, "ipv6.routing", "frame.number") == []


def test_rules_and_tables_follow_the_documented_order(namespaces, driver_name):
    ns = build_pmip_path(namespaces)
    asyncio.run(set_up_tunnel(ns, driver_name))

    rules = json.loads(in_ns(ns["mag1"], "ip", "-j", "-6", "rule", "show").stdout)
    by_priority = {rule["priority"]: rule for rule in rules}
    assert by_priority[ownership.SOURCE_RULE_PRIORITY]["src"] == "2001:db8:100::"
    table = in_ns(ns["mag1"], "ip", "-6", "route", "show", "table", "1051").stdout
    assert TUNNEL_ROUTE[driver_name] in table
    if driver_name == "seg6":
        # Decapsulation is a route the rule for protocol 41 selects, before local.
        assert 0 not in by_priority
        assert by_priority[ownership.DECAP_RULE_PRIORITY]["table"] == str(ownership.DECAP_TABLE)
        assert by_priority[ownership.DECAP_RULE_PRIORITY]["ipproto"] == "ipv6"
        assert by_priority[ownership.LOCAL_RULE_PRIORITY]["table"] == "local"
        assert LMA_ADDRESS in table
    else:
        # Decapsulation happens before routing: no rule, the local rule stays at 0.
        assert by_priority[0]["table"] == "local"
        assert ownership.DECAP_RULE_PRIORITY not in by_priority
        assert "pmip6_decap" in decapsulation_filter(ns["mag1"], "lma")
        assert "pmip6_decap" in decapsulation_filter(ns["lma"], "mag1")


def test_handoff_replaces_the_route_with_one_message_and_no_deletion(
    namespaces, tmp_path, driver_name
):
    ns = build_pmip_path(namespaces, mag_count=2)
    lma, _ = asyncio.run(set_up_tunnel(ns, driver_name))
    asyncio.run(attach_mag(ns, 2, driver_name))
    assert ping(ns["cn"], MN_ADDRESS, count=1)
    monitor = namespaces.spawn(ns["lma"], "ip", "-6", "-ts", "monitor", "route")
    # `ip monitor` prints nothing once subscribed, so give it time to subscribe
    # before the change it must see (on a loaded machine it missed it).
    time.sleep(0.5)

    async def handoff():
        # The driver's socket lives in the LMA namespace; reuse it from a new loop.
        driver = await tunnel_driver(ns["lma"], driver_name)
        await driver.enable_decapsulation(LMA)  # idempotent; bpf needs it first
        await driver.route_prefix_to_peer(PREFIX, IPv6Address(mag_address(2)))

    in_ns(ns["mag1"], "ip", "link", "set", "acc", "down")
    asyncio.run(handoff())
    pcap = str(tmp_path / "lma-mag2.pcap")
    with capture(namespaces, ns["lma"], "mag2", pcap, "ip6 proto 41"):
        assert ping(ns["cn"], MN_ADDRESS)
    monitor.terminate()
    events = monitor.communicate(timeout=5)[0]

    mentions = [line for line in events.splitlines() if "2001:db8:100::/64" in line]
    assert len(mentions) == 1 and "Deleted" not in mentions[0], events
    assert TUNNEL_ROUTE[driver_name] in mentions[0] and "dev mag2" in mentions[0]
    if driver_name == "seg6":
        assert f"segs 1 [ {mag_address(2)} ]" in mentions[0]
    routes = in_ns(ns["lma"], "ip", "-6", "route", "show", MN_PREFIX).stdout.splitlines()
    assert len(routes) == 1 and "dev mag2" in routes[0]
    assert len(tshark_fields(pcap, f"ipv6.dst == {mag_address(2)}", "frame.number")) >= 3


def test_removing_the_routes_stops_the_data_path(namespaces, driver_name):
    ns = build_pmip_path(namespaces)

    async def scenario():
        lma, mag = await set_up_tunnel(ns, driver_name)
        await lma.remove_prefix_route(PREFIX)
        await mag.remove_source_prefix_route(PREFIX)
        await lma.remove_prefix_route(PREFIX)  # idempotent
        await lma.disable_decapsulation()
        await mag.disable_decapsulation()

    asyncio.run(scenario())
    assert not ping(ns["cn"], MN_ADDRESS, count=1)
    for node in ("lma", "mag1"):
        rules = in_ns(ns[node], "ip", "-6", "rule", "show").stdout
        assert rules.splitlines()[0].startswith("0:\tfrom all lookup local"), rules
        routes = in_ns(ns[node], "ip", "-6", "route", "show", "table", "all").stdout
        assert "proto 157" not in routes
    assert "pmip6_decap" not in decapsulation_filter(ns["mag1"], "lma")
    assert "pmip6_decap" not in decapsulation_filter(ns["lma"], "mag1")


def test_a_route_change_after_the_interface_toward_the_peer_went_looks_it_up_again(
    namespaces, driver_name
):
    ns = build_pmip_path(namespaces, mag_count=2)
    mag1 = mag_address(1)

    async def scenario() -> None:
        lma, _mag = await set_up_tunnel(ns, driver_name)  # caches the interface toward MAG1
        # MAG1 now reachable through another interface only; the cached one is gone.
        in_ns(ns["lma"], "ip", "-6", "route", "add", f"{mag1}/128", "dev", "mag2")
        in_ns(ns["lma"], "ip", "link", "del", "mag1")
        await lma.route_prefix_to_peer(PREFIX, IPv6Address(mag1))

    asyncio.run(scenario())
    route = in_ns(ns["lma"], "ip", "-6", "route", "show", MN_PREFIX).stdout
    assert "dev mag2" in route and "proto 157" in route, route


def test_a_seg6_route_in_plain_encap_mode_is_refused(namespaces, monkeypatch):
    ns = build_pmip_path(namespaces)
    try:
        asyncio.run(tunnel_driver(ns["lma"], "seg6"))
    except TunnelError as error:
        pytest.skip(f"no seg6 tunnels here: {error}")
    # A driver that gets the mode wrong: plain encap (1), which adds an SRH.
    toward_peer = Seg6Driver._toward_peer

    async def plain_encap(driver: Seg6Driver, peer: IPv6Address) -> PeerPath:
        path = await toward_peer(driver, peer)
        return PeerPath(path.oif, Seg6Encap(SEG6_IPTUN_MODE_ENCAP, path.encap.segments))

    monkeypatch.setattr(Seg6Driver, "_toward_peer", plain_encap)

    async def scenario():
        lma = Seg6Driver(await route_socket(ns["lma"]), route_requests(ns["lma"]))
        await lma.route_prefix_to_peer(PREFIX, IPv6Address(mag_address(1)))

    with pytest.raises(TunnelError, match="encap.red"):
        asyncio.run(scenario())


def test_preparing_a_peer_builds_its_table_before_any_mn_and_skips_an_unreachable_one(
    namespaces, driver_name
):
    ns = build_pmip_path(namespaces, mag_count=1)

    async def scenario() -> tuple[bool, bool]:
        mag = await tunnel_driver(ns["mag1"], driver_name)
        await mag.enable_decapsulation(IPv6Address(mag_address(1)))
        lma = await tunnel_driver(ns["lma"], driver_name)  # no default route there
        await lma.enable_decapsulation(LMA)
        unreachable = IPv6Address("2001:db8:dead::1")
        return await mag.prepare_peer(LMA, source_table=True), await lma.prepare_peer(unreachable)

    assert asyncio.run(scenario()) == (True, False)
    table = ownership.PEER_TABLES[0]
    routes = in_ns(ns["mag1"], "ip", "-6", "route", "show", "table", str(table)).stdout
    assert routes.startswith("default") and TUNNEL_ROUTE[driver_name] in routes, routes
    # No MN yet, so no source rule points at the table.
    assert f"lookup {table}" not in in_ns(ns["mag1"], "ip", "-6", "rule", "show").stdout
