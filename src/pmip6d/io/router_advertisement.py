"""Sending the MAG's Router Advertisements to its MN (the RA itself: wire/ndisc.py).

``RouterAdvertisementSender`` sends from the shared link-local address all
MAGs present (`mag.access_link_local`), with hop limit 255. RFC 5213 6.7 wants
the RA unicast to the MN: pass the MN's link-local address when known. When
it is not (the RS came from ``::``), the RA goes to ff02::1 on that access
link, which reaches the same single MN because a PMIPv6 access link is
point-to-point (RFC 5213 6.2).
"""

import socket
from ipaddress import IPv6Address

from pmip6d.io.icmpv6 import IPV6_PKTINFO, PKTINFO, icmpv6_socket
from pmip6d.wire.ndisc import ND_HOP_LIMIT

ALL_NODES = IPv6Address("ff02::1")


class RouterAdvertisementSender:
    def __init__(self, source: IPv6Address):
        self.source = source
        self._socket = icmpv6_socket()
        try:
            self._socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ND_HOP_LIMIT)
            self._socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ND_HOP_LIMIT)
        except OSError:
            self._socket.close()
            raise

    def send(self, ifname: str, message: bytes, destination: IPv6Address | None = None) -> None:
        """Send ``message`` out of ``ifname`` from the shared link-local address.

        ``destination`` None means ff02::1 on that link (see the module doc).
        """
        index = socket.if_nametoindex(ifname)
        target = ALL_NODES if destination is None else destination
        pktinfo = PKTINFO.pack(self.source.packed, index)
        self._socket.sendmsg(
            [message],
            [(socket.IPPROTO_IPV6, IPV6_PKTINFO, pktinfo)],
            0,
            (str(target), 0, 0, index),
        )

    def close(self) -> None:
        self._socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
