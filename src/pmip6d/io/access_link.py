"""The MAG's access interfaces: the shared router identity and routes to the MNs.

Every MAG presents the same link-layer address and link-local address
(fe80::1) on its access links, so an MN that moves keeps a reachable default
router without noticing the handover (RFC 5213 6.9.3). The link-local
address is added without duplicate address detection: the same address on
another MAG is intended, and it must be usable at once.
"""

import errno
from ipaddress import IPv6Address, IPv6Network

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from pmip6d.io.ownership import (
    AF_INET6,
    MAIN_TABLE,
    ROUTE_PROTOCOL,
    ignore_existing,
    ignore_missing,
)
from pmip6d.io.route_request import Route, RouteRequests
from pmip6d.wire.ndisc import mac_text

IFA_F_NODAD = 0x02


# The kernel's default IPv6 metric, named because the MAG's hold route
# (io/hold_route.py) must stay behind it.
ACCESS_METRIC = 1024


class AccessLinks:
    def __init__(self, ipr: AsyncIPRoute, routes: RouteRequests):
        self.ipr = ipr
        # The access route precedes the PBU, on the handover's critical path:
        # it goes out through the lean encoder (io/route_request.py).
        self.routes = routes
        # Access interfaces live as long as the node: remembering their index
        # saves a link dump on the attach path, which a handover waits for.
        self._indexes: dict[str, int] = {}

    async def _index(self, ifname: str) -> int:
        if ifname in self._indexes:
            return self._indexes[ifname]
        found = await self.ipr.link_lookup(ifname=ifname)
        if not found:
            raise LookupError(f"no interface {ifname}")
        self._indexes[ifname] = found[0]
        return found[0]

    async def present_shared_identity(
        self,
        ifname: str,
        link_layer_address: str | bytes,
        link_local: IPv6Address,
    ) -> None:
        """Give ``ifname`` the shared MAC and link-local address (idempotent)."""
        index = await self._index(ifname)
        mac = link_layer_address
        if isinstance(mac, bytes):
            mac = mac_text(mac)
        try:
            await self.ipr.link("set", index=index, address=mac)
        except NetlinkError as error:
            if error.code != errno.EBUSY:
                raise
            # Drivers without live MAC change need the interface down briefly.
            await self.ipr.link("set", index=index, state="down")
            await self.ipr.link("set", index=index, address=mac)
            await self.ipr.link("set", index=index, state="up")
        await ignore_existing(
            self.ipr.addr(
                "add",
                index=index,
                family=AF_INET6,
                address=str(link_local),
                prefixlen=64,
                flags=IFA_F_NODAD,
            )
        )

    async def withdraw_shared_identity(self, ifname: str, link_local: IPv6Address) -> None:
        """Remove the shared link-local address (the MAC stays: the original is not known)."""
        index = await self._index(ifname)
        await ignore_missing(
            self.ipr.addr(
                "del", index=index, family=AF_INET6, address=str(link_local), prefixlen=64
            )
        )

    async def route_prefix_to_access(self, prefix: IPv6Network, ifname: str) -> None:
        """Deliver the MN's prefix on its access link (replace: an MN may reattach)."""
        oif = await self._index(ifname)
        self.routes.replace(Route(prefix, MAIN_TABLE, oif, priority=ACCESS_METRIC))

    async def remove_access_route(self, prefix: IPv6Network) -> None:
        await ignore_missing(
            self.ipr.route(
                "del",
                family=AF_INET6,
                dst=str(prefix.network_address),
                dst_len=prefix.prefixlen,
                table=MAIN_TABLE,
                priority=ACCESS_METRIC,
                proto=ROUTE_PROTOCOL,
            )
        )
