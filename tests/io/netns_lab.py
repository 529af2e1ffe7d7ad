"""Throwaway network namespaces for the adapter tests (root only).

Tests use ``ip`` here freely; only the daemon code must go through pyroute2.
"""

import contextlib
import itertools
import os
import subprocess
import time

from pyroute2 import AsyncIPRoute
from pyroute2.netns import popns, pushns

from pmip6d.io.route_request import RouteRequests
from pmip6d.io.tunnels import TunnelDriver, select_driver

_serial = itertools.count()


def sh(*argv: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=timeout)


def in_ns(ns: str, *argv: str, check: bool = True, timeout: float = 20):
    return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)


def wait_for_link_local(ns: str, ifname: str, seconds: float = 5) -> None:
    """Carrier (and so the link-local address) comes up via linkwatch, up to ~1 s late."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if in_ns(ns, "ip", "-6", "addr", "show", "dev", ifname, "scope", "link").stdout:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{ifname} in {ns} got no link-local address")


class Namespaces:
    """Creates namespaces and veth links; ``destroy()`` removes all of them."""

    def __init__(self):
        self.names: list[str] = []
        self.processes: list[subprocess.Popen] = []

    def add(self, role: str, router: bool = False) -> str:
        name = f"pmip6t-{os.getpid()}-{next(_serial)}-{role}"[:40]
        sh("ip", "netns", "add", name)
        self.names.append(name)
        sysctls = [
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.all.seg6_enabled=1",
            "net.ipv6.conf.default.seg6_enabled=1",
            f"net.ipv6.conf.all.forwarding={int(router)}",
            f"net.ipv6.conf.default.forwarding={int(router)}",
        ]
        in_ns(name, "sysctl", "-qw", *sysctls)
        in_ns(name, "ip", "link", "set", "lo", "up")
        return name

    def link(self, ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
        sh("ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", if_b, "netns", ns_b)
        for ns, ifname in ((ns_a, if_a), (ns_b, if_b)):
            in_ns(ns, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.seg6_enabled=1")
            in_ns(ns, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.accept_dad=0")
            in_ns(ns, "ip", "link", "set", ifname, "up")
        for ns, ifname in ((ns_a, if_a), (ns_b, if_b)):
            wait_for_link_local(ns, ifname)

    def address(self, ns: str, ifname: str, address: str) -> None:
        in_ns(ns, "ip", "-6", "addr", "add", address, "dev", ifname, "nodad")

    def spawn(self, ns: str, *argv: str) -> subprocess.Popen:
        process = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        return process

    def destroy(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
        for name in self.names:
            sh("ip", "netns", "del", name, check=False)


@contextlib.contextmanager
def entered(ns: str):
    """Run the body with this thread inside ``ns``; sockets opened here stay there."""
    pushns(ns)
    try:
        yield
    finally:
        popns()


async def route_socket(ns: str) -> AsyncIPRoute:
    with entered(ns):
        ipr = AsyncIPRoute()
        await ipr.setup_endpoint()
    return ipr


def route_requests(ns: str) -> RouteRequests:
    """The hand-encoded route requests (io/route_request.py), sent inside ``ns``."""
    with entered(ns):
        return RouteRequests()


async def tunnel_driver(ns: str, setting: str = "auto") -> TunnelDriver:
    """The tunnel driver `setting` names (default: what the kernel offers), in ``ns``."""
    return await select_driver(setting, await route_socket(ns), route_requests(ns))


@contextlib.contextmanager
def capture(namespaces: Namespaces, ns: str, ifname: str, pcap: str, bpf: str = ""):
    """tcpdump on ``ifname`` for the duration of the body; the pcap is complete afterwards."""
    argv = ["tcpdump", "-i", ifname, "-U", "--immediate-mode", "-w", pcap]
    process = namespaces.spawn(ns, *argv, *bpf.split())
    # tcpdump says "listening on" on stderr once the socket is attached.
    process.stderr.readline()
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def tshark_fields(pcap: str, display_filter: str, *fields: str) -> list[list[str]]:
    argv = ["tshark", "-r", pcap, "-Y", display_filter, "-T", "fields"]
    for field in fields:
        argv += ["-e", field]
    output = sh(*argv).stdout
    return [line.split("\t") for line in output.splitlines() if line]


CN_ADDRESS = "2001:db8:c::2"
LMA_ADDRESS = "2001:db8:1::1"
MN_PREFIX = "2001:db8:100::/64"
MN_ADDRESS = "2001:db8:100::5"
SHARED_LINK_LOCAL = "fe80::1"
SHARED_MAC = "02:00:5e:00:53:01"


def mag_address(number: int) -> str:
    return f"2001:db8:{number}::2"


def build_pmip_path(namespaces: Namespaces, mag_count: int = 1) -> dict[str, str]:
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
