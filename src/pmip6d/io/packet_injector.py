"""Send whole IPv6 packets as if this node were forwarding them.

Packets handed back by a previous MAG reach the LMA as bytes, not as queued
kernel packets, so there is nothing to accept(): they are sent through a raw
IPPROTO_RAW socket, whose packets carry their own IPv6 header (source address
included) and are routed by destination with the routing table of the
moment, i.e. into the tunnel to the MN's new MAG.
"""

from __future__ import annotations

import socket
from ipaddress import IPv6Address

IPV6_HEADER = 40


class PacketInjector:
    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)

    def send(self, packet: bytes) -> None:
        """Raises OSError when the kernel refuses (no route, for one)."""
        if len(packet) < IPV6_HEADER or packet[0] >> 4 != 6:
            raise ValueError("not an IPv6 packet")
        destination = IPv6Address(packet[24:40])
        self._socket.sendto(packet, (str(destination), 0))

    def close(self) -> None:
        self._socket.close()
