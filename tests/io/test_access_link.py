"""The shared router identity and MN routes on an access interface, and their removal."""

import asyncio
from ipaddress import IPv6Address, IPv6Network

from pmip6d.io.access_link import AccessLinks
from tests.io.pmip_path import SHARED_LINK_LOCAL, SHARED_MAC, in_ns, route_requests, route_socket

HNP = IPv6Network("2001:db8:100::/64")
LINK_LOCAL = IPv6Address(SHARED_LINK_LOCAL)


def test_identity_and_route_are_added_idempotently_and_removed(namespaces):
    mag = namespaces.add("mag", router=True)
    mn = namespaces.add("mn")
    namespaces.link(mag, "acc", mn, "mn0")

    async def present():
        access = AccessLinks(await route_socket(mag), route_requests(mag))
        for _ in range(2):
            await access.present_shared_identity("acc", bytes.fromhex("02005e005301"), LINK_LOCAL)
            await access.route_prefix_to_access(HNP, "acc")
        access.ipr.close()

    async def withdraw():
        access = AccessLinks(await route_socket(mag), route_requests(mag))
        for _ in range(2):
            await access.remove_access_route(HNP)
            await access.withdraw_shared_identity("acc", LINK_LOCAL)
        access.ipr.close()

    asyncio.run(present())
    link = in_ns(mag, "ip", "link", "show", "acc").stdout
    addresses = in_ns(mag, "ip", "-6", "addr", "show", "dev", "acc").stdout
    assert f"link/ether {SHARED_MAC}" in link
    assert addresses.count("inet6 fe80::1/64 scope link nodad") == 1
    route = in_ns(mag, "ip", "-6", "route", "show", str(HNP)).stdout
    assert route.strip() == "2001:db8:100::/64 dev acc proto 157 metric 1024 pref medium"

    asyncio.run(withdraw())
    assert "fe80::1/64" not in in_ns(mag, "ip", "-6", "addr", "show", "dev", "acc").stdout
    assert in_ns(mag, "ip", "-6", "route", "show", str(HNP)).stdout == ""
