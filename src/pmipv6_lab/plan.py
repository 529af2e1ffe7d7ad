"""The domain plan: one description of a PMIPv6 domain of N MAGs x M mobile nodes.

Every node name, interface, address, MAC, link, sysctl, policy entry and node
configuration of a domain is decided here, and only here. The containerlab
topology and the Ansible inventory (lab_files.py), the policy store, the
example configurations and the testbed's network namespaces are all generated
from a `DomainPlan`; nothing else computes an address. (netlab's idea: one
description, every artefact generated.)

Shape: cn -- lma -- mag1..magN. Mobile node k (1..M) has an access link to
MAG a = ((k-1) mod N) + 1 on its eth1 (up at start) and, when N > 1, to
b = (k mod N) + 1 on its eth2, so a handover moves it one MAG along a ring.
A MAG's eth1 goes to the LMA, its eth2, eth3, ... to its MNs (in MN order);
the LMA's eth1 goes to the CN, its eth<N+1> to magN. One MN alone is named
`mn`, several `mn1`..`mnM`.

Addressing (numbers written in hex, as IPv6 addresses are):

    LMAA                   2001:db8:ffff::1/128      lma lo
    proxy-CoA of magN      2001:db8:ffff::<10+N>     magN lo (mag1 ::11)
    lma - magN link        2001:db8:a:<N>::/64       lma ::1, magN ::2
    lma - cn link          2001:db8:c::/64           lma ::1, cn ::10
    home prefix of mnM     2001:db8:1:<M>::/64       SLAAC from the MAG's RA
    NAI of mnM             mnM@pmipv6.lab
    MAC of mnM             02:00:00:00:01:00 + M     (mn1: 02:00:00:00:01:01)

The MN keeps one address across MAGs: its access links are ports of one
bridge (br0) carrying its MAC, and only the port toward its current MAG is up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from typing import Any, Literal

DOMAIN = "pmipv6.lab"
LAB_SPACE = IPv6Network("2001:db8::/32")
LMA_ADDRESS = IPv6Address("2001:db8:ffff::1")
CN_LINK = IPv6Network("2001:db8:c::/64")
CN_ADDRESS = CN_LINK[0x10]
CN_LINK_LMA = CN_LINK[1]
HOME_PREFIXES = IPv6Network("2001:db8:1::/48")
MN_MAC_BASE = 0x02_00_00_00_01_00
MN_BRIDGE = "br0"
NODE_IMAGE = "pmipv6-lab/node:latest"
HOST_IMAGE = "pmipv6-lab/host:latest"
MAX_MAGS = 200
MAX_MNS = 0xFFFF

NodeKind = Literal["cn", "lma", "mag", "mn"]


class PlanError(ValueError):
    """A domain the plan cannot describe; the message is one line."""


def proxy_coa(mag: int) -> IPv6Address:
    return IPv6Address(f"2001:db8:ffff::{0x10 + mag:x}")


def core_link(mag: int) -> IPv6Network:
    return IPv6Network(f"2001:db8:a:{mag:x}::/64")


def home_prefix(mn: int) -> IPv6Network:
    return IPv6Network(f"2001:db8:1:{mn:x}::/64")


def mn_nai(mn: int) -> str:
    return f"mn{mn}@{DOMAIN}"


def mn_mac(mn: int) -> str:
    octets = (MN_MAC_BASE + mn).to_bytes(6, "big")
    return ":".join(f"{octet:02x}" for octet in octets)


# Sysctls belong in the topology: a lab node is not privileged, so /proc/sys is
# read-only inside it, and containerlab sets them at creation. Interfaces moved
# in later inherit net.ipv6.conf.default.*, hence default.* beside all.*.
def _both(**settings: int) -> dict[str, int]:
    return {
        f"net.ipv6.conf.{scope}.{key}": value
        for key, value in settings.items()
        for scope in ("all", "default")
    }


HOST_SYSCTLS = _both(disable_ipv6=0, forwarding=0, accept_dad=0)
MN_SYSCTLS = {**HOST_SYSCTLS, **_both(accept_ra=1, autoconf=1)}
ROUTER_SYSCTLS = _both(disable_ipv6=0, forwarding=1, seg6_enabled=1, accept_dad=0, accept_ra=0)
# A MAG stops using the route on an MN's access link the moment its carrier
# drops, so the daemon's hold route takes the MN's packets (docs/buffering.md).
MAG_SYSCTLS = {**ROUTER_SYSCTLS, **_both(ignore_routes_with_linkdown=1)}

# Every node gets NET_ADMIN and NET_RAW. The LMA and the MAGs also load the bpf
# tunnel driver's programs, which needs CAP_BPF; Docker 20.10 does not know it,
# so CAP_SYS_ADMIN, which includes it (docs/tunnels.md). Still not privileged.
NODE_CAPABILITIES = ("NET_ADMIN", "NET_RAW")
ROUTER_CAPABILITIES = (*NODE_CAPABILITIES, "SYS_ADMIN")


@dataclass(frozen=True)
class Address:
    dev: str
    address: IPv6Interface


@dataclass(frozen=True)
class Route:
    to: IPv6Network
    via: IPv6Address
    dev: str


@dataclass(frozen=True)
class Endpoint:
    node: str
    interface: str
    mac: str | None = None


@dataclass(frozen=True)
class Link:
    a: Endpoint
    b: Endpoint


@dataclass(frozen=True)
class Node:
    name: str
    kind: NodeKind
    image: str
    sysctls: dict[str, int]
    addresses: tuple[Address, ...] = ()
    routes: tuple[Route, ...] = ()

    @property
    def capabilities(self) -> tuple[str, ...]:
        return ROUTER_CAPABILITIES if self.kind in ("lma", "mag") else NODE_CAPABILITIES


@dataclass(frozen=True)
class Mag:
    number: int
    name: str
    proxy_coa: IPv6Address
    uplink: str
    access_interfaces: tuple[str, ...]


@dataclass(frozen=True)
class AccessLink:
    """One of an MN's access links: its interface and the MAG's at the other end."""

    interface: str
    mag: str
    mag_interface: str


@dataclass(frozen=True)
class MobileNode:
    number: int
    name: str
    nai: str
    mac: str
    home_prefix: IPv6Network
    access_links: tuple[AccessLink, ...]
    bridge: str = MN_BRIDGE

    def link_to(self, mag: str) -> AccessLink:
        return next(link for link in self.access_links if link.mag == mag)


@dataclass(frozen=True)
class DomainPlan:
    """N MAGs, M mobile nodes, one LMA and one CN, laid out as the module says.

    `mn_nodes=False` keeps the mobile nodes out of the topology: they are in the
    policy only, and something else (a fake MAG) attaches them.
    """

    mags: int
    mns: int
    name: str = "pmipv6"
    mn_nodes: bool = True
    _mag: dict[int, Mag] = field(init=False, repr=False, compare=False)
    _mn: dict[int, MobileNode] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.mags <= MAX_MAGS:
            raise PlanError(f"a domain has 1 to {MAX_MAGS} MAGs, not {self.mags}")
        if not 1 <= self.mns <= MAX_MNS:
            raise PlanError(f"a domain has 1 to {MAX_MNS} mobile nodes, not {self.mns}")
        if not self.name or not self.name.replace("-", "").isalnum():
            raise PlanError(f"a domain name has letters, digits and '-' only, not {self.name!r}")
        access: dict[int, list[str]] = {n: [] for n in range(1, self.mags + 1)}
        mns = {}
        for k in range(1, self.mns + 1):
            links = []
            if self.mn_nodes:
                for port, n in enumerate(self._neighbours(k), start=1):
                    mag_interface = f"eth{len(access[n]) + 2}"
                    access[n].append(mag_interface)
                    links.append(AccessLink(f"eth{port}", f"mag{n}", mag_interface))
            name = "mn" if self.mns == 1 else f"mn{k}"
            mns[k] = MobileNode(k, name, mn_nai(k), mn_mac(k), home_prefix(k), tuple(links))
        mags = {
            n: Mag(n, f"mag{n}", proxy_coa(n), "eth1", tuple(access[n]))
            for n in range(1, self.mags + 1)
        }
        object.__setattr__(self, "_mag", mags)
        object.__setattr__(self, "_mn", mns)

    def _neighbours(self, k: int) -> list[int]:
        a, b = (k - 1) % self.mags + 1, k % self.mags + 1
        return [a] if a == b else [a, b]

    # -- the parts -------------------------------------------------------------

    @property
    def lma_address(self) -> IPv6Address:
        return LMA_ADDRESS

    @property
    def mag_list(self) -> list[Mag]:
        return list(self._mag.values())

    def mag(self, number: int) -> Mag:
        return self._mag[number]

    @property
    def mobile_nodes(self) -> list[MobileNode]:
        return list(self._mn.values())

    def mobile_node(self, number: int = 1) -> MobileNode:
        return self._mn[number]

    def container(self, node: str) -> str:
        """The containerlab container (and Ansible host) name of a node."""
        return f"clab-{self.name}-{node}"

    # -- topology ----------------------------------------------------------------

    @property
    def nodes(self) -> list[Node]:
        """cn, lma, the MAGs, then the mobile nodes (if they are nodes)."""
        cn = Node(
            "cn",
            "cn",
            HOST_IMAGE,
            HOST_SYSCTLS,
            (Address("eth1", IPv6Interface(f"{CN_ADDRESS}/{CN_LINK.prefixlen}")),),
            (Route(HOME_PREFIXES, CN_LINK_LMA, "eth1"),),
        )
        lma_addresses = [
            Address("lo", IPv6Interface(f"{LMA_ADDRESS}/128")),
            Address("eth1", IPv6Interface(f"{CN_LINK_LMA}/{CN_LINK.prefixlen}")),
        ]
        lma_routes = []
        mags = []
        for mag in self.mag_list:
            link = core_link(mag.number)
            toward = f"eth{mag.number + 1}"
            lma_addresses.append(Address(toward, IPv6Interface(f"{link[1]}/{link.prefixlen}")))
            lma_routes.append(Route(IPv6Network(f"{mag.proxy_coa}/128"), link[2], toward))
            addresses = (
                Address("lo", IPv6Interface(f"{mag.proxy_coa}/128")),
                Address(mag.uplink, IPv6Interface(f"{link[2]}/{link.prefixlen}")),
            )
            routes = (Route(IPv6Network(f"{LMA_ADDRESS}/128"), link[1], mag.uplink),)
            mags.append(Node(mag.name, "mag", NODE_IMAGE, MAG_SYSCTLS, addresses, routes))
        lma = Node(
            "lma", "lma", NODE_IMAGE, ROUTER_SYSCTLS, tuple(lma_addresses), tuple(lma_routes)
        )
        mns = [Node(mn.name, "mn", HOST_IMAGE, MN_SYSCTLS) for mn in self._mn_nodes()]
        return [cn, lma, *mags, *mns]

    def node(self, name: str) -> Node:
        found = next((node for node in self.nodes if node.name == name), None)
        if found is None:
            raise PlanError(f"{self.name} has no node {name!r}")
        return found

    @property
    def links(self) -> list[Link]:
        """The CN link, the MAG uplinks, then each MN's access links, in MN order.
        The MN's end of an access link carries the MN's MAC."""
        links = [Link(Endpoint("cn", "eth1"), Endpoint("lma", "eth1"))]
        links += [
            Link(Endpoint("lma", f"eth{mag.number + 1}"), Endpoint(mag.name, mag.uplink))
            for mag in self.mag_list
        ]
        for mn in self._mn_nodes():
            links += [
                Link(Endpoint(a.mag, a.mag_interface), Endpoint(mn.name, a.interface, mn.mac))
                for a in mn.access_links
            ]
        return links

    def _mn_nodes(self) -> list[MobileNode]:
        return self.mobile_nodes if self.mn_nodes else []

    # -- what the daemons read --------------------------------------------------------

    def policy(self, authorized_mags: list[int] | None = None) -> dict[str, Any]:
        """The policy store (docs/configuration.md) shared by the LMA and every MAG;
        `authorized_mags` (MAG numbers) narrows the MAGs the LMA accepts."""
        return {
            "mobile_nodes": [
                {
                    "mn_id": mn.nai,
                    "link_layer_addresses": [mn.mac],
                    "home_network_prefixes": [str(mn.home_prefix)],
                }
                for mn in self.mobile_nodes
            ],
            "authorized_mags": [
                {"name": mag.name, "address": str(mag.proxy_coa)}
                for mag in self.mag_list
                if authorized_mags is None or mag.number in authorized_mags
            ],
        }

    def node_config(self, node: str) -> dict[str, Any]:
        """What a daemon node's configuration says about the domain (role, name,
        addresses, interfaces); everything else keeps the daemon's defaults
        (docs/configuration.md). The deployment adds `policy_file` and whatever
        it sets on purpose."""
        if node == "lma":
            return {"role": "lma", "node_name": "lma", "lma": {"address": str(LMA_ADDRESS)}}
        mag = next((m for m in self.mag_list if m.name == node), None)
        if mag is None:
            raise PlanError(f"{node!r} runs no pmip6d (daemon nodes: lma, mag1..mag{self.mags})")
        section = {
            "proxy_coa": str(mag.proxy_coa),
            "lma_address": str(LMA_ADDRESS),
            "access_interfaces": list(mag.access_interfaces),
        }
        return {"role": "mag", "node_name": mag.name, "mag": section}

    @property
    def daemon_nodes(self) -> list[str]:
        return ["lma", *(mag.name for mag in self.mag_list)]
