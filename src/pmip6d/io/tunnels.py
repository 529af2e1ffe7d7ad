"""IPv6-in-IPv6 tunnels between LMA and MAG, routes into them and policy rules.

Three drivers give the same operations (see docs/tunnels.md for the recipe):

- ``Ip6tnlDriver``: one classic ``ip6tnl`` interface per peer; routes point
  at the interface. Needs the ip6_tunnel kernel module.
- ``Seg6Driver``: lightweight tunnels, no interface. Encapsulation is a
  ``seg6`` route in reduced-encapsulation mode with the peer as the only
  segment (on the wire: outer IPv6, next header 41, inner IPv6; no routing
  header), decapsulation is an ``End.DT6`` ``seg6local`` route selected by a
  rule for protocol 41 to our own endpoint address.

- ``BpfDriver``: for kernels with neither (like the lab's CI machines): an
  eBPF program at each route's lwt xmit hook pushes the outer IPv6 header,
  a tc ingress filter on every interface toward a peer strips it
  (``bpf_tunnel``). Same bytes on the wire as the others. Needs CAP_BPF (or
  CAP_SYS_ADMIN, which Docker 20.10 grants instead: it does not know CAP_BPF).

``select_driver("auto")`` prefers ip6tnl when the kernel can create one, then
seg6, then bpf.

All methods are coroutines on a shared ``pyroute2.AsyncIPRoute`` because the
synchronous IPRoute of pyroute2 0.9 cannot run inside an asyncio loop. The
routes into a tunnel go out through ``route_request.RouteRequests`` instead,
because they sit on a handover's critical path (see that module).
"""

import hashlib
import logging
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network
from typing import Protocol

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from pmip6d.io import bpf_tunnel, ownership, seg6_compat
from pmip6d.io.ownership import AF_INET6, MAIN_TABLE, ROUTE_PROTOCOL
from pmip6d.io.route_request import BpfEncap, Encapsulation, Route, RouteRequests, Seg6Encap

log = logging.getLogger(__name__)

DRIVER_CHOICES = ("auto", "seg6", "ip6tnl", "bpf")
IPPROTO_IPV6 = 41


class TunnelError(RuntimeError):
    """The kernel refused or silently altered a tunnel setting."""


@dataclass(frozen=True)
class PeerPath:
    """How a route reaches a peer: out of `oif`, encapsulated by the route or not."""

    oif: int
    encap: Encapsulation | None = None


class TunnelDriver(Protocol):
    name: str

    async def enable_decapsulation(
        self, local_address: IPv6Address, ifname: str | None = None
    ) -> None: ...

    async def disable_decapsulation(self) -> None: ...

    async def prepare_peer(self, peer: IPv6Address, *, source_table: bool = False) -> bool: ...

    async def route_prefix_to_peer(self, prefix: IPv6Network, peer: IPv6Address) -> None: ...

    async def remove_prefix_route(self, prefix: IPv6Network) -> None: ...

    async def route_source_prefix_to_peer(self, prefix: IPv6Network, peer: IPv6Address) -> None: ...

    async def remove_source_prefix_route(self, prefix: IPv6Network) -> None: ...


class _PolicyRoutingDriver:
    """What both drivers share: routes toward a peer, and the MAG's source rules.

    Subclasses say how "toward this peer" is expressed as route attributes.
    """

    name = "abstract"

    def __init__(self, ipr: AsyncIPRoute, routes: RouteRequests):
        self.ipr = ipr
        self.routes = routes
        self.local_address: IPv6Address | None = None
        self._peer_tables: dict[IPv6Address, int] = {}
        self._source_rules: dict[IPv6Network, int] = {}
        self._oifs: dict[IPv6Address, int] = {}

    async def _toward_peer(self, peer: IPv6Address) -> PeerPath:
        raise NotImplementedError

    async def _verify_route(self, prefix: IPv6Network, table: int) -> None:
        """Hook for drivers whose route attributes must be read back."""

    async def _replace_route_toward(
        self, peer: IPv6Address, prefix: IPv6Network, table: int
    ) -> None:
        """RTM_NEWROUTE with NLM_F_REPLACE: `prefix` in `table` into the tunnel to
        `peer`. A failure with a cached interface toward the peer looks it up again
        once (the interface may be gone)."""
        for attempt in range(2):
            try:
                path = await self._toward_peer(peer)
                self.routes.replace(Route(prefix, table, path.oif, encap=path.encap))
                return
            except NetlinkError:
                if attempt or not self._forget_oif(peer):
                    raise

    async def prepare_peer(self, peer: IPv6Address, *, source_table: bool = False) -> bool:
        """Do at start what the first route toward `peer` would otherwise do on a
        handover's critical path, where it cost milliseconds of a 2-core machine's
        CPU: find the way toward the peer (seg6: the interface; ip6tnl: the tunnel
        device) and, with `source_table` (a MAG), build the peer's table for its
        MNs' source rules. False when `peer` is not reachable yet: the first use
        does the work then."""
        try:
            await self._toward_peer(peer)
            if source_table:
                await self._peer_table(peer)
        except (NetlinkError, IndexError, TunnelError):
            self._forget_oif(peer)
            return False
        return True

    async def route_prefix_to_peer(self, prefix: IPv6Network, peer: IPv6Address) -> None:
        """LMA: send traffic for an MN's prefix into the tunnel to its MAG.

        One RTM_NEWROUTE with NLM_F_REPLACE, so a handoff swaps the route in
        place: there is no moment without a route to the prefix.
        """
        await self._replace_route_toward(peer, prefix, MAIN_TABLE)
        await self._verify_route(prefix, MAIN_TABLE)

    async def remove_prefix_route(self, prefix: IPv6Network) -> None:
        await ownership.ignore_missing(
            self.ipr.route(
                "del",
                family=AF_INET6,
                dst=str(prefix.network_address),
                dst_len=prefix.prefixlen,
                table=MAIN_TABLE,
                proto=ROUTE_PROTOCOL,
            )
        )

    async def _peer_table(self, peer: IPv6Address) -> int:
        table = self._peer_tables.get(peer)
        if table is not None:
            return table
        free = [t for t in ownership.PEER_TABLES if t not in self._peer_tables.values()]
        if not free:
            raise TunnelError(f"no free routing table for peer {peer}")
        table = free[0]
        await self._replace_route_toward(peer, IPv6Network("::/0"), table)
        await self._verify_route(IPv6Network("::/0"), table)
        self._peer_tables[peer] = table
        return table

    async def route_source_prefix_to_peer(self, prefix: IPv6Network, peer: IPv6Address) -> None:
        """MAG: send everything sourced from an MN's prefix into the tunnel to the LMA.

        The peer's table holds a single default route through the tunnel; the
        rule ``from prefix lookup <table>`` selects it.
        """
        table = await self._peer_table(peer)
        if self._source_rules.get(prefix) == table:
            return
        if prefix in self._source_rules:
            await self.remove_source_prefix_route(prefix)
        await self.ipr.rule(
            "add",
            family=AF_INET6,
            src=str(prefix.network_address),
            src_len=prefix.prefixlen,
            table=table,
            priority=ownership.SOURCE_RULE_PRIORITY,
        )
        self._source_rules[prefix] = table

    async def remove_source_prefix_route(self, prefix: IPv6Network) -> None:
        table = self._source_rules.pop(prefix, None)
        if table is None:
            return
        await ownership.ignore_missing(
            self.ipr.rule(
                "del",
                family=AF_INET6,
                src=str(prefix.network_address),
                src_len=prefix.prefixlen,
                table=table,
                priority=ownership.SOURCE_RULE_PRIORITY,
            )
        )
        if table not in self._source_rules.values():
            await self._release_peer_table(table)

    async def _release_peer_table(self, table: int) -> None:
        # The last MN behind this peer is gone: drop the table's default route.
        for peer, peer_table in list(self._peer_tables.items()):
            if peer_table == table:
                del self._peer_tables[peer]
        await ownership.ignore_missing(
            self.ipr.route(
                "del", family=AF_INET6, dst="::", dst_len=0, table=table, proto=ROUTE_PROTOCOL
            )
        )

    async def _index_of_interface_with(self, address: IPv6Address) -> int:
        async for addr in await self.ipr.get_addr(family=AF_INET6):
            if IPv6Address(addr.get("address")) == address:
                return addr["index"]
        raise TunnelError(f"{address} is not configured on any interface")

    async def _oif_toward(self, peer: IPv6Address) -> int:
        """The interface toward `peer`, looked up once per peer: a route lookup is a
        netlink round trip on every handover's critical path. The encapsulated
        packet is routed again by its outer destination, so this only names a
        device that exists; `_forget_oif` drops it when a route change fails."""
        oif = self._oifs.get(peer)
        if oif is None:
            routes = await self.ipr.route("get", family=AF_INET6, dst=str(peer))
            oif = self._oifs[peer] = routes[0].get("oif")
        return oif

    def _forget_oif(self, peer: IPv6Address) -> bool:
        return self._oifs.pop(peer, None) is not None


class Seg6Driver(_PolicyRoutingDriver):
    """RFC 2473 tunnels made of seg6 encap.red and seg6local End.DT6 routes."""

    name = "seg6"

    async def _toward_peer(self, peer: IPv6Address) -> PeerPath:
        return PeerPath(
            await self._oif_toward(peer), Seg6Encap(seg6_compat.SEG6_IPTUN_MODE_ENCAP_RED, (peer,))
        )

    def __init__(self, ipr: AsyncIPRoute, routes: RouteRequests):
        super().__init__(ipr, routes)
        self._verified_tables: set[int] = set()

    async def _verify_route(self, prefix: IPv6Network, table: int) -> None:
        # A seg6 route in any other mode than encap.red still carries traffic,
        # with a routing header no PMIPv6 peer expects; a kernel or an encoder
        # that got the mode wrong would go unnoticed, so the first route in
        # each table is read back. The encoding is the same for every route:
        # reading back every one would put a full table dump on the handover's
        # critical path (and make it grow with the number of MNs).
        if table in self._verified_tables:
            return
        routes = [
            route
            async for route in await self.ipr.get_routes(
                family=AF_INET6, table=table, proto=ROUTE_PROTOCOL
            )
            if route["dst_len"] == prefix.prefixlen
            and IPv6Address(route.get("dst") or "::") == prefix.network_address
        ]
        modes = [
            srh.get("encapmode")
            for route in routes
            if (encap := route.get("encap")) is not None
            and (srh := encap.get("SEG6_IPTUNNEL_SRH")) is not None
        ]
        if modes != [seg6_compat.SEG6_IPTUN_MODE_ENCAP_RED]:
            raise TunnelError(
                f"route to {prefix} in table {table} has seg6 modes {modes}, expected "
                f"{seg6_compat.SEG6_IPTUN_MODE_ENCAP_RED} (encap.red)"
            )
        self._verified_tables.add(table)

    async def enable_decapsulation(
        self, local_address: IPv6Address, ifname: str | None = None
    ) -> None:
        """Decapsulate IPv6-in-IPv6 addressed to ``local_address``.

        ``ifname`` anchors the seg6local route; it must not be loopback (the
        kernel turns loopback routes into reject routes). Default: the
        interface that holds ``local_address``.
        """
        if ifname is None:
            index = await self._index_of_interface_with(local_address)
        else:
            index = (await self.ipr.link_lookup(ifname=ifname))[0]
        await self.ipr.route(
            "replace",
            family=AF_INET6,
            dst=str(local_address),
            dst_len=128,
            table=ownership.DECAP_TABLE,
            proto=ROUTE_PROTOCOL,
            oif=index,
            encap={"type": "seg6local", "action": "End.DT6", "table": MAIN_TABLE},
        )
        await self._decap_rule("add", local_address)
        await ownership.move_local_rule_after_decapsulation(self.ipr)
        self.local_address = local_address

    async def _decap_rule(self, command: str, local_address: IPv6Address):
        rule = {
            "family": AF_INET6,
            "dst": str(local_address),
            "dst_len": 128,
            "ip_proto": IPPROTO_IPV6,
            "table": ownership.DECAP_TABLE,
            "priority": ownership.DECAP_RULE_PRIORITY,
        }
        if command == "add":
            await ownership.ignore_existing(self.ipr.rule("add", **rule))
        else:
            await ownership.ignore_missing(self.ipr.rule("del", **rule))

    async def disable_decapsulation(self) -> None:
        if self.local_address is None:
            return
        await ownership.restore_local_rule(self.ipr)
        await self._decap_rule("del", self.local_address)
        await ownership.ignore_missing(
            self.ipr.route(
                "del",
                family=AF_INET6,
                dst=str(self.local_address),
                dst_len=128,
                table=ownership.DECAP_TABLE,
                proto=ROUTE_PROTOCOL,
            )
        )
        self.local_address = None


class BpfDriver(_PolicyRoutingDriver):
    """RFC 2473 tunnels made of two eBPF programs (see ``bpf_tunnel``).

    Routes into a tunnel carry an lwt xmit program that pushes the outer
    header toward the peer (one program per peer, its addresses baked in);
    every interface gets the tc ingress filter that strips the outer header
    of packets sent to our endpoint. No policy rule and no local rule move
    are needed: decapsulation happens before routing.
    """

    name = "bpf"

    def __init__(self, ipr: AsyncIPRoute, routes: RouteRequests):
        super().__init__(ipr, routes)
        self._encapsulation: dict[IPv6Address, bpf_tunnel.LoadedProgram] = {}
        self._decapsulation: bpf_tunnel.LoadedProgram | None = None
        self._decapsulating: set[int] = set()

    async def enable_decapsulation(
        self, local_address: IPv6Address, ifname: str | None = None
    ) -> None:
        """Load the filter for ``local_address`` and attach it to every interface
        but loopback (``ifname`` is not needed: no route anchors anything here).

        Like the seg6 driver's End.DT6 route, and unlike an ip6tnl device, it
        decapsulates whatever is tunnelled to our endpoint, from any source and
        on any interface: a peer's packets may arrive on any of them (an MN
        multihomed through two MAGs, a reroute in the transport network).
        Interfaces that appear later get it when a peer is first routed through
        them."""
        if self._decapsulation is None:
            self._decapsulation = _load_bpf(bpf_tunnel.load_decapsulation, local_address)
        self.local_address = local_address
        async for link in await self.ipr.get_links():
            if link.get("ifname") != "lo":
                await self._decapsulate_on(link["index"])

    async def _decapsulate_on(self, index: int) -> None:
        if index in self._decapsulating:
            return
        if self._decapsulation is None:
            raise TunnelError("call enable_decapsulation(local_address) before routing to a peer")
        await ownership.ignore_existing(self.ipr.tc("add", "clsact", index=index))
        await self.ipr.tc(
            "replace-filter",
            "bpf",
            index=index,
            handle=1,
            parent=ownership.TC_INGRESS,
            prio=ownership.DECAP_FILTER_PRIORITY,
            fd=self._decapsulation.fd,
            name=self._decapsulation.name,
            direct_action=True,
        )
        self._decapsulating.add(index)

    async def disable_decapsulation(self) -> None:
        for index in self._decapsulating:
            await ownership.remove_decapsulation_filter(self.ipr, index)
        self._decapsulating.clear()
        for program in [self._decapsulation, *self._encapsulation.values()]:
            if program is not None:
                program.close()
        self._decapsulation = None
        self._encapsulation.clear()
        self.local_address = None

    async def _toward_peer(self, peer: IPv6Address) -> PeerPath:
        if self.local_address is None:
            raise TunnelError("call enable_decapsulation(local_address) before routing to a peer")
        oif = await self._oif_toward(peer)
        await self._decapsulate_on(oif)
        program = self._encapsulation.get(peer)
        if program is None:
            program = _load_bpf(bpf_tunnel.load_encapsulation, self.local_address, peer)
            self._encapsulation[peer] = program
        return PeerPath(oif, BpfEncap(program.fd, program.name, bpf_tunnel.OUTER_HEADER_LENGTH))


def _load_bpf(loader, *addresses: IPv6Address) -> bpf_tunnel.LoadedProgram:
    try:
        return loader(*addresses)
    except OSError as error:
        raise TunnelError(f"cannot load the bpf tunnel program: {error}") from None


class Ip6tnlDriver(_PolicyRoutingDriver):
    """Classic ip6tnl interfaces, one per peer, named ``pmip6-<hash of peer>``.

    The kernel decapsulates by itself on an interface whose local/remote pair
    matches the packet, so decapsulation only needs the local address.
    """

    name = "ip6tnl"

    @staticmethod
    def interface_name(peer: IPv6Address) -> str:
        # IFNAMSIZ leaves 15 characters; a digest keeps names stable across restarts.
        digest = hashlib.sha1(peer.packed).hexdigest()
        return ownership.LINK_NAME_PREFIX + digest[: 15 - len(ownership.LINK_NAME_PREFIX)]

    async def enable_decapsulation(
        self, local_address: IPv6Address, ifname: str | None = None
    ) -> None:
        self.local_address = local_address

    async def disable_decapsulation(self) -> None:
        async for link in await self.ipr.get_links():
            if link.get("ifname", "").startswith(ownership.LINK_NAME_PREFIX):
                await self.ipr.link("del", index=link["index"])
        self._peer_tables.clear()
        self._source_rules.clear()
        self.local_address = None

    async def _toward_peer(self, peer: IPv6Address) -> PeerPath:
        if self.local_address is None:
            raise TunnelError("call enable_decapsulation(local_address) before routing to a peer")
        name = self.interface_name(peer)
        found = await self.ipr.link_lookup(ifname=name)
        if not found:
            await self.ipr.link(
                "add",
                ifname=name,
                kind="ip6tnl",
                ip6tnl_local=str(self.local_address),
                ip6tnl_remote=str(peer),
                ip6tnl_proto=IPPROTO_IPV6,
            )
            found = await self.ipr.link_lookup(ifname=name)
            await self.ipr.link("set", index=found[0], state="up")
        return PeerPath(found[0])


async def _kernel_has_ip6tnl(ipr: AsyncIPRoute) -> bool:
    probe = ownership.LINK_NAME_PREFIX + "probe"
    try:
        await ipr.link(
            "add",
            ifname=probe,
            kind="ip6tnl",
            ip6tnl_local="2001:db8::1",
            ip6tnl_remote="2001:db8::2",
        )
    except NetlinkError:
        return False
    await ipr.link("del", index=(await ipr.link_lookup(ifname=probe))[0])
    return True


async def _probe_route(ipr: AsyncIPRoute) -> dict:
    """Where a driver probe puts its throwaway route: our decapsulation table,
    toward a documentation prefix, on lo (fine: the route is never used)."""
    return {
        "family": AF_INET6,
        "dst": "2001:db8:ffff:ffff::",
        "dst_len": 64,
        "table": ownership.DECAP_TABLE,
        "proto": ROUTE_PROTOCOL,
        "oif": (await ipr.link_lookup(ifname="lo"))[0],
    }


async def _kernel_has_seg6(ipr: AsyncIPRoute) -> bool:
    probe = await _probe_route(ipr)
    try:
        await ipr.route(
            "replace",
            encap={"type": "seg6", "mode": seg6_compat.ENCAP_RED, "segs": ["2001:db8::1"]},
            **probe,
        )
    except NetlinkError:
        return False
    await ipr.route("del", **probe)
    return True


async def _kernel_has_bpf_tunnels(ipr: AsyncIPRoute) -> str | None:
    """None when this process can load both programs and route through an lwt
    xmit program; otherwise why not, for the error message."""
    probe = await _probe_route(ipr)
    local, peer = IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2")
    try:
        bpf_tunnel.load_decapsulation(local).close()
        program = bpf_tunnel.load_encapsulation(local, peer)
    except OSError as error:
        return str(error)
    try:
        xmit = {"fd": program.fd, "name": program.name, "headroom": bpf_tunnel.OUTER_HEADER_LENGTH}
        await ipr.route("replace", encap={"type": "bpf", "xmit": xmit}, **probe)
        await ipr.route("del", **probe)
    except NetlinkError as error:
        return f"lwt bpf route refused: {error}"
    finally:
        program.close()
    return None


async def select_driver(setting: str, ipr: AsyncIPRoute, routes: RouteRequests) -> TunnelDriver:
    """Return the tunnel driver named by ``setting`` (one of DRIVER_CHOICES).

    ``auto`` picks ip6tnl if the kernel can create one, else seg6 if the kernel
    accepts seg6 routes, else bpf if this process may load BPF programs. An
    explicit choice the kernel cannot do raises, saying why.
    """
    if setting not in DRIVER_CHOICES:
        raise ValueError(f"tunnel driver must be one of {DRIVER_CHOICES}, not {setting!r}")
    if setting in ("auto", "ip6tnl") and await _kernel_has_ip6tnl(ipr):
        return Ip6tnlDriver(ipr, routes)
    if setting == "ip6tnl":
        raise TunnelError("tunnel driver ip6tnl requested but the kernel has no ip6_tunnel")
    if setting in ("auto", "seg6") and await _kernel_has_seg6(ipr):
        return Seg6Driver(ipr, routes)
    if setting == "seg6":
        raise TunnelError("tunnel driver seg6 requested but the kernel has no seg6 lwtunnel")
    why_not_bpf = await _kernel_has_bpf_tunnels(ipr)
    if why_not_bpf is None:
        return BpfDriver(ipr, routes)
    if setting == "bpf":
        raise TunnelError(f"tunnel driver bpf requested but unusable here: {why_not_bpf}")
    raise TunnelError(
        "no tunnel driver works here: the kernel has neither ip6_tunnel nor seg6 "
        f"lwtunnel, and bpf is unusable: {why_not_bpf}"
    )
