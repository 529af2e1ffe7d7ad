"""Router Solicitation snooping on the MAG's access links, to learn that an MN attached
(the RS itself: wire/ndisc.py).

A raw ICMPv6 socket filtered to type 133 sees a copy of every RS the kernel
receives; the arrival interface comes from IPV6_PKTINFO. The kernel has
already verified the ICMPv6 checksum; hop limit 255 is checked here
(RFC 4861 6.1.1).

The Source Link-Layer Address option is absent when the MN solicits before
it has an address (source ``::``, RFC 4861 4.1 forbids the option then), so
``link_layer_address`` can be None; the daemon can then use the link-layer
source it learns from neighbour discovery, or the interface's peer.

The socket joins ff02::2 on the watched interfaces so that it also works
when forwarding is off on them (a router joins all-routers by itself).
"""

import socket
import struct
from collections.abc import Iterable
from ipaddress import IPv6Address
from typing import NamedTuple

from pmip6d.io.icmpv6 import (
    IPV6_HOPLIMIT,
    IPV6_PKTINFO,
    IPV6_RECVHOPLIMIT,
    IPV6_RECVPKTINFO,
    PKTINFO,
    icmpv6_socket,
    pass_only,
)
from pmip6d.wire.ndisc import (
    ND_HOP_LIMIT,
    ROUTER_SOLICITATION,
    RS_HEADER_LENGTH,
    source_link_layer_address,
)

ALL_ROUTERS = IPv6Address("ff02::2")


class RouterSolicitation(NamedTuple):
    ifname: str
    link_layer_address: bytes | None
    source: IPv6Address


class RouterSolicitationSnooper:
    def __init__(self, ifnames: Iterable[str]):
        # Index to name now, in the namespace the socket lives in.
        self.interfaces = {socket.if_nametoindex(name): name for name in ifnames}
        self._socket = icmpv6_socket()
        try:
            pass_only(self._socket, ROUTER_SOLICITATION)
            self._socket.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            self._socket.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
            for index in self.interfaces:
                membership = ALL_ROUTERS.packed + struct.pack("I", index)
                self._socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, membership)
            self._socket.setblocking(False)
        except OSError:
            self._socket.close()
            raise

    def fileno(self) -> int:
        return self._socket.fileno()

    def receive(self) -> RouterSolicitation | None:
        """The next valid RS on a watched interface, or None when nothing is waiting."""
        while True:
            try:
                message, ancillary, _flags, (source, *_rest) = self._socket.recvmsg(
                    2048, socket.CMSG_SPACE(PKTINFO.size) + socket.CMSG_SPACE(4)
                )
            except BlockingIOError:
                return None
            index, hop_limit = None, None
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO:
                    index = PKTINFO.unpack(value[: PKTINFO.size])[1]
                elif level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT:
                    (hop_limit,) = struct.unpack("i", value[:4])
            valid = (
                len(message) >= RS_HEADER_LENGTH
                and message[0] == ROUTER_SOLICITATION
                and message[1] == 0
                and hop_limit == ND_HOP_LIMIT
            )
            if valid and index in self.interfaces:
                return RouterSolicitation(
                    self.interfaces[index],
                    source_link_layer_address(message),
                    IPv6Address(source.split("%")[0]),
                )

    def close(self) -> None:
        self._socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
