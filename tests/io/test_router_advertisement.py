"""An RA sent by the MAG's sender makes a real MN autoconfigure (the RA codec
itself: tests/wire/test_ndisc.py)."""

import asyncio
import json
import time
from ipaddress import IPv6Address, IPv6Network

from pmip6d.io.access_link import AccessLinks
from pmip6d.io.router_advertisement import RouterAdvertisementSender
from pmip6d.wire.ndisc import build_router_advertisement
from tests.io.pmip_path import (
    SHARED_LINK_LOCAL,
    SHARED_MAC,
    entered,
    in_ns,
    route_requests,
    route_socket,
)

HNP = IPv6Network("2001:db8:100::/64")


def test_mn_autoconfigures_from_the_ra_and_uses_the_shared_router(namespaces):
    mag = namespaces.add("mag", router=True)
    mn = namespaces.add("mn")
    in_ns(mn, "sysctl", "-qw", "net.ipv6.conf.default.accept_ra=1")
    namespaces.link(mag, "acc", mn, "mn0")
    in_ns(mn, "sysctl", "-qw", "net.ipv6.conf.mn0.accept_ra=1")

    async def configure_access():
        ipr = await route_socket(mag)
        access = AccessLinks(ipr, route_requests(mag))
        await access.present_shared_identity("acc", SHARED_MAC, IPv6Address(SHARED_LINK_LOCAL))
        await access.route_prefix_to_access(HNP, "acc")
        ipr.close()

    asyncio.run(configure_access())
    mn_link_local = json.loads(in_ns(mn, "ip", "-j", "-6", "addr", "show", "dev", "mn0").stdout)
    mn_link_local = IPv6Address(mn_link_local[0]["addr_info"][0]["local"])
    with entered(mag), RouterAdvertisementSender(IPv6Address(SHARED_LINK_LOCAL)) as sender:
        sender.send("acc", build_router_advertisement([HNP], SHARED_MAC), mn_link_local)

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        addresses = in_ns(mn, "ip", "-6", "addr", "show", "dev", "mn0").stdout
        if "2001:db8:100:" in addresses:
            break
        time.sleep(0.1)
    assert "inet6 2001:db8:100:" in addresses and "dynamic" in addresses
    default = in_ns(mn, "ip", "-6", "route", "show", "default").stdout
    assert default.startswith("default via fe80::1 dev mn0 proto ra")
    neighbour = in_ns(mn, "ip", "-6", "neigh", "show", "fe80::1").stdout
    assert SHARED_MAC in neighbour and "router" in neighbour
    mn_address = next(
        word.split("/")[0] for word in addresses.split() if word.startswith("2001:db8:100:")
    )
    assert in_ns(mag, "ping", "-c", "1", "-W", "2", mn_address, check=False).returncode == 0
