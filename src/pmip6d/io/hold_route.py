"""The MAG's hold route: where packets for an MN go the instant its link drops.

Each attached MN's prefixes get, beside the route out of the access link, a
second route with a worse metric out of the hold device, a veth pair the
daemon owns. With `ignore_routes_with_linkdown=1` on the access interface,
the kernel stops using the access route the moment the carrier drops and
picks the hold route instead, with no daemon round trip in between; a
permanent NFQUEUE rule on the hold device's output then gives those packets
to the daemon, which hands them back to the LMA. While the link is up the
hold route is never chosen, so the rule sees no traffic.

(A route to `lo` would be simpler but the kernel refuses to forward to it,
and no dummy driver is guaranteed; veth is everywhere.)
"""

from __future__ import annotations

from ipaddress import IPv6Network
from pathlib import Path

from pyroute2 import AsyncIPRoute

from pmip6d.io.ownership import (
    AF_INET6,
    LINK_NAME_PREFIX,
    ROUTE_PROTOCOL,
    ignore_existing,
    ignore_missing,
)

HOLD_DEVICE = f"{LINK_NAME_PREFIX}hold0"
HOLD_PEER = f"{LINK_NAME_PREFIX}hold1"
HOLD_METRIC = 4096


def linkdown_routes_ignored(ifname: str) -> bool:
    """Whether the kernel abandons routes via `ifname` when its carrier drops."""
    path = Path(f"/proc/sys/net/ipv6/conf/{ifname}/ignore_routes_with_linkdown")
    try:
        return path.read_text().strip() == "1"
    except OSError:
        return False


class HoldRoutes:
    def __init__(self, ipr: AsyncIPRoute) -> None:
        self.ipr = ipr
        self._index: int | None = None

    async def create_device(self) -> None:
        found = await self.ipr.link_lookup(ifname=HOLD_DEVICE)
        if not found:
            await self.ipr.link("add", ifname=HOLD_DEVICE, kind="veth", peer=HOLD_PEER)
            found = await self.ipr.link_lookup(ifname=HOLD_DEVICE)
        self._index = found[0]
        for name in (HOLD_PEER, HOLD_DEVICE):
            (index,) = await self.ipr.link_lookup(ifname=name)
            await self.ipr.link("set", index=index, state="up")

    def _route(self, prefix: IPv6Network) -> dict:
        assert self._index is not None, "create_device first"
        return {
            "family": AF_INET6,
            "dst": str(prefix.network_address),
            "dst_len": prefix.prefixlen,
            "oif": self._index,
            "priority": HOLD_METRIC,
            "proto": ROUTE_PROTOCOL,
        }

    async def add(self, prefix: IPv6Network) -> None:
        await ignore_existing(self.ipr.route("add", **self._route(prefix)))

    async def remove(self, prefix: IPv6Network) -> None:
        if self._index is not None:
            await ignore_missing(self.ipr.route("del", **self._route(prefix)))
