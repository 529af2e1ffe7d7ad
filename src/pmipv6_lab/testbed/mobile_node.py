"""The mobile node's own actions, from one long-lived process in its namespace.

    ip netns exec NS python -m pmipv6_lab.testbed.mobile_node MAC BRIDGE

reads commands on stdin and answers each with "ok": `down ethN` and `up ethN`
(an access link's carrier goes or comes, netlink), `rs` (solicit a router, as
an arriving host does, until one answers). One process for the whole run, so
a handover is not slowed down by a Python start-up per step.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from pmip6d.wire.ndisc import ROUTER_ADVERTISEMENT, build_router_solicitation
from pmipv6_lab.testbed.netns import CommandFailed, end_of_input

ALL_ROUTERS = "ff02::2"


def serve(mac: str, bridge: str) -> None:
    from pyroute2 import IPRoute

    solicitation = build_router_solicitation(mac)
    rs = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    rs.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    ipr = IPRoute()
    index = socket.if_nametoindex(bridge)
    ra = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    ra.setblocking(False)
    for line in sys.stdin:
        command, *args = line.split()
        if command in ("down", "up"):
            ipr.link("set", index=socket.if_nametoindex(args[0]), state=command)
        elif command == "rs":
            solicit(rs, ra, solicitation, bridge, index)
        print("ok", flush=True)


def solicit(rs: socket.socket, ra: socket.socket, solicitation: bytes, bridge: str, index: int):
    # An RS sent before the bridge has its carrier back is dropped without an
    # error, so wait for the carrier first (at most 1 s; polled finely, as every
    # poll interval would add to the measured interruption).
    for _ in range(5000):
        with open(f"/sys/class/net/{bridge}/carrier") as carrier:
            if carrier.read().strip() == "1":
                break
        time.sleep(0.0002)
    # Like a host, solicit again until a router answers: a solicitation can still
    # be lost while the link settles (here at most 10 tries, 0.2 s apart).
    while True:
        try:
            ra.recv(2048)  # drop what came before this solicitation
        except BlockingIOError:
            break
    for _attempt in range(10):
        try:
            rs.sendto(solicitation, (ALL_ROUTERS, 0, 0, index))
        except OSError:
            time.sleep(0.005)
            continue
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            try:
                if ra.recv(2048)[0] == ROUTER_ADVERTISEMENT:
                    return
            except BlockingIOError:
                time.sleep(0.001)


class MobileNodeDriver:
    """Sends `down ethN`, `up ethN` and `rs` to the mobile node's process."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process

    def do(self, command: str) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        if self.process.stdout.readline().strip() != "ok":
            raise CommandFailed(f"the MN driver failed on {command!r}")

    def close(self) -> None:
        end_of_input(self.process)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
