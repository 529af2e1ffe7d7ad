"""Router Advertisements from the MAG to its MN, with the MN's home network prefixes.

``build_router_advertisement`` is pure (bytes out, checksum left 0: the
kernel fills in ICMPv6 checksums on raw ICMPv6 sockets);
``parse_router_advertisement`` reads one back, for tests and debugging.

``RouterAdvertisementSender`` sends from the shared link-local address all
MAGs present (fe80::1 by default), with hop limit 255. RFC 5213 6.7 wants
the RA unicast to the MN: pass the MN's link-local address when known. When
it is not (the RS came from ``::``), the RA goes to ff02::1 on that access
link, which reaches the same single MN because a PMIPv6 access link is
point-to-point (RFC 5213 6.2).
"""

import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network

from pmip6d.io.icmpv6 import (
    IPV6_PKTINFO,
    ND_HOP_LIMIT,
    OPTION_MTU,
    OPTION_PREFIX_INFORMATION,
    OPTION_SOURCE_LINK_LAYER,
    PKTINFO,
    icmpv6_socket,
    mac_bytes,
)

ROUTER_ADVERTISEMENT = 134
ALL_NODES = IPv6Address("ff02::1")
SHARED_LINK_LOCAL = IPv6Address("fe80::1")
FLAG_ON_LINK = 0x80
FLAG_AUTONOMOUS = 0x40
_HEADER = struct.Struct("!BBHBBHII")  # type, code, checksum, hop limit, flags, lifetime, ...
_PREFIX = struct.Struct("!BBBBIII16s")


@dataclass(frozen=True)
class PrefixInformation:
    prefix: IPv6Network
    valid_lifetime: int
    preferred_lifetime: int
    on_link: bool = True
    autonomous: bool = True


@dataclass(frozen=True)
class RouterAdvertisement:
    router_lifetime: int
    prefixes: list[PrefixInformation] = field(default_factory=list)
    link_layer_address: bytes | None = None
    cur_hop_limit: int = 64
    reachable_time: int = 0
    retrans_timer: int = 0
    mtu: int | None = None


def build_router_advertisement(
    prefixes: Sequence[IPv6Network],
    link_layer_address: str | bytes,
    router_lifetime: int = 1800,
    valid_lifetime: int = 86400,
    preferred_lifetime: int = 14400,
    cur_hop_limit: int = 64,
    mtu: int | None = None,
) -> bytes:
    """An RA announcing each prefix on-link (L) and for autoconfiguration (A)."""
    message = bytearray(
        _HEADER.pack(ROUTER_ADVERTISEMENT, 0, 0, cur_hop_limit, 0, router_lifetime, 0, 0)
    )
    mac = mac_bytes(link_layer_address)
    message += bytes([OPTION_SOURCE_LINK_LAYER, (2 + len(mac) + 7) // 8]) + mac
    message += bytes(-len(message) % 8)
    if mtu is not None:
        message += struct.pack("!BBHI", OPTION_MTU, 1, 0, mtu)
    for prefix in prefixes:
        message += _PREFIX.pack(
            OPTION_PREFIX_INFORMATION,
            4,
            prefix.prefixlen,
            FLAG_ON_LINK | FLAG_AUTONOMOUS,
            valid_lifetime,
            preferred_lifetime,
            0,
            prefix.network_address.packed,
        )
    return bytes(message)


def parse_router_advertisement(message: bytes) -> RouterAdvertisement:
    kind, _code, _sum, hop_limit, _flags, lifetime, reachable, retrans = _HEADER.unpack_from(
        message
    )
    if kind != ROUTER_ADVERTISEMENT:
        raise ValueError(f"ICMPv6 type {kind} is not a Router Advertisement")
    prefixes, mac, mtu = [], None, None
    offset = _HEADER.size
    while offset + 2 <= len(message):
        option, length = message[offset], message[offset + 1] * 8
        if length == 0 or offset + length > len(message):
            raise ValueError(f"malformed option at offset {offset}")
        body = message[offset : offset + length]
        if option == OPTION_SOURCE_LINK_LAYER:
            mac = body[2:8]
        elif option == OPTION_MTU:
            mtu = struct.unpack_from("!I", body, 4)[0]
        elif option == OPTION_PREFIX_INFORMATION:
            _t, _l, prefix_length, flags, valid, preferred, _r, address = _PREFIX.unpack(body)
            prefixes.append(
                PrefixInformation(
                    IPv6Network((address, prefix_length)),
                    valid,
                    preferred,
                    on_link=bool(flags & FLAG_ON_LINK),
                    autonomous=bool(flags & FLAG_AUTONOMOUS),
                )
            )
        offset += length
    return RouterAdvertisement(lifetime, prefixes, mac, hop_limit, reachable, retrans, mtu)


class RouterAdvertisementSender:
    def __init__(self, source: IPv6Address = SHARED_LINK_LOCAL):
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
