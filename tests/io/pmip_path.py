"""The adapter tests' namespaces: small topologies of their own, built with the
testbed's namespace builder (pmipv6_lab.testbed.netns).

Unlike the domain plan's, the addresses here sit on the link interfaces and
no daemon runs: each test drives one adapter directly, from a thread put
into a namespace (`entered`). Tests use `ip` freely; only the daemon code
must go through pyroute2.
"""

from __future__ import annotations

import itertools

from pmip6d.io.route_request import RouteRequests
from pmip6d.io.tunnels import TunnelDriver, select_driver
from pmipv6_lab.testbed.netns import (
    Namespaces,
    capture,
    entered,
    in_ns,
    route_socket,
    tshark_fields,
)

__all__ = [
    "AdapterNamespaces",
    "build_pmip_path",
    "capture",
    "entered",
    "in_ns",
    "route_requests",
    "route_socket",
    "tshark_fields",
    "tunnel_driver",
]


def _sysctls(router: bool) -> dict[str, int]:
    return {
        f"net.ipv6.conf.{scope}.{key}": value
        for scope in ("all", "default")
        for key, value in (("accept_dad", 0), ("seg6_enabled", 1), ("forwarding", int(router)))
    }


class AdapterNamespaces(Namespaces):
    """Namespaces as the adapter tests use them: named after their role, seg6
    on everywhere, forwarding on routers; links wait for their link-local
    addresses, which the ND and RA tests need."""

    def __init__(self) -> None:
        super().__init__(prefix="pmip6t-")
        self._serial = itertools.count()

    def add(self, role: str, router: bool = False) -> str:  # type: ignore[override]
        return super().add(f"{next(self._serial)}-{role}", _sysctls(router))

    def link(self, ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:  # type: ignore[override]
        super().link(ns_a, if_a, ns_b, if_b, up=False)
        for ns, ifname in ((ns_a, if_a), (ns_b, if_b)):
            in_ns(ns, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.seg6_enabled=1")
            in_ns(ns, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.accept_dad=0")
            in_ns(ns, "ip", "link", "set", ifname, "up")
        for ns, ifname in ((ns_a, if_a), (ns_b, if_b)):
            self.wait_for_link_local(ns, ifname)


def route_requests(ns: str) -> RouteRequests:
    """The hand-encoded route requests (io/route_request.py), sent inside ``ns``."""
    with entered(ns):
        return RouteRequests()


async def tunnel_driver(ns: str, setting: str = "auto") -> TunnelDriver:
    """The tunnel driver `setting` names (default: what the kernel offers), in ``ns``."""
    return await select_driver(setting, await route_socket(ns), route_requests(ns))


CN_ADDRESS = "2001:db8:c::2"
LMA_ADDRESS = "2001:db8:1::1"
MN_PREFIX = "2001:db8:100::/64"
MN_ADDRESS = "2001:db8:100::5"
SHARED_LINK_LOCAL = "fe80::1"
SHARED_MAC = "02:00:5e:00:53:01"


def mag_address(number: int) -> str:
    return f"2001:db8:{number}::2"


def build_pmip_path(namespaces: AdapterNamespaces, mag_count: int = 1) -> dict[str, str]:
    """cn -- lma -- mag1..N -- mn, plain addressing, no tunnels yet.

    The LMA reaches MAG i on 2001:db8:i::/64 (LMA ::1, MAG ::2); every MAG
    reaches the LMA endpoint 2001:db8:1::1 through its default route. Each
    MAG's access interface ``acc`` presents the shared router identity. The
    MN puts its access interfaces in a bridge ``br0`` (one MAC, one address
    across handovers) and uses fe80::1 as its default router.
    """
    ns = {
        "cn": namespaces.add("cn"),
        "lma": namespaces.add("lma", router=True),
        "mn": namespaces.add("mn"),
    }
    namespaces.link(ns["cn"], "cn0", ns["lma"], "cn")
    namespaces.address(ns["cn"], "cn0", f"{CN_ADDRESS}/64")
    in_ns(ns["cn"], "ip", "-6", "route", "add", "default", "via", "2001:db8:c::1")
    namespaces.address(ns["lma"], "cn", "2001:db8:c::1/64")
    in_ns(ns["mn"], "ip", "link", "add", "br0", "type", "bridge")
    in_ns(ns["mn"], "sysctl", "-qw", "net.ipv6.conf.br0.accept_dad=0")
    in_ns(ns["mn"], "ip", "link", "set", "br0", "up")
    namespaces.address(ns["mn"], "br0", f"{MN_ADDRESS}/64")
    in_ns(ns["mn"], "ip", "-6", "route", "add", "default", "via", SHARED_LINK_LOCAL, "dev", "br0")
    for number in range(1, mag_count + 1):
        mag = ns[f"mag{number}"] = namespaces.add(f"mag{number}", router=True)
        namespaces.link(ns["lma"], f"mag{number}", mag, "lma")
        namespaces.address(ns["lma"], f"mag{number}", f"2001:db8:{number}::1/64")
        namespaces.address(mag, "lma", f"{mag_address(number)}/64")
        in_ns(mag, "ip", "-6", "route", "add", "default", "via", f"2001:db8:{number}::1")
        namespaces.link(mag, "acc", ns["mn"], f"mn{number}")
        in_ns(mag, "ip", "link", "set", "acc", "address", SHARED_MAC)
        namespaces.address(mag, "acc", f"{SHARED_LINK_LOCAL}/64")
        in_ns(ns["mn"], "ip", "link", "set", f"mn{number}", "master", "br0")
    return ns
