"""Router Solicitation and Router Advertisement (RFC 4861 4.1, 4.2): bytes <-> objects.

Pure, like the Mobility Header codec beside it: the MAG builds the unicast RA
that gives an MN its home network prefixes (RFC 5213 6.7) and reads the MN's
link-layer address from its RS; the sockets that carry them are in
`pmip6d.io`. The ICMPv6 checksum is left 0 in what is built: the kernel fills
it in on a raw ICMPv6 socket, and has verified it in what is received.

Layout (RFC 4861):

    RS  type 133 | code | checksum | reserved (32) | options
    RA  type 134 | code | checksum | cur hop limit | flags | router lifetime (16)
        | reachable time (32) | retrans timer (32) | options
    option  type | length (8-octet units) | body
            1 Source Link-Layer Address: the 6-octet MAC (Ethernet)
            3 Prefix Information: prefix length | flags L 0x80, A 0x40
              | valid lifetime (32) | preferred lifetime (32) | reserved (32) | prefix
            5 MTU: reserved (16) | MTU (32)
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv6Network

ROUTER_SOLICITATION = 133
ROUTER_ADVERTISEMENT = 134
# Neighbor Discovery messages are valid only with hop limit 255 (RFC 4861 6.1).
ND_HOP_LIMIT = 255
OPTION_SOURCE_LINK_LAYER = 1
OPTION_PREFIX_INFORMATION = 3
OPTION_MTU = 5
FLAG_ON_LINK = 0x80
FLAG_AUTONOMOUS = 0x40
RS_HEADER_LENGTH = 8

_RA_HEADER = struct.Struct("!BBHBBHII")  # type, code, checksum, hop limit, flags, lifetime, ...
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


def mac_bytes(mac: str | bytes) -> bytes:
    """A MAC as 6 octets, from bytes or the colon form."""
    if isinstance(mac, bytes):
        return mac
    return bytes(int(part, 16) for part in mac.split(":"))


def mac_text(mac: bytes) -> str:
    return ":".join(f"{octet:02x}" for octet in mac)


def _link_layer_option(mac: str | bytes) -> bytes:
    octets = mac_bytes(mac)
    option = bytes([OPTION_SOURCE_LINK_LAYER, (2 + len(octets) + 7) // 8]) + octets
    return option + bytes(-len(option) % 8)


def build_router_solicitation(link_layer_address: str | bytes | None = None) -> bytes:
    """An RS, with a Source Link-Layer Address option when the address is given
    (RFC 4861 4.1 leaves it out when the source is the unspecified address)."""
    message = bytes([ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0])
    if link_layer_address is not None:
        message += _link_layer_option(link_layer_address)
    return message


def source_link_layer_address(message: bytes) -> bytes | None:
    """The Source Link-Layer Address of an RS, or None if absent or malformed."""
    offset = RS_HEADER_LENGTH
    while offset + 2 <= len(message):
        kind, length = message[offset], message[offset + 1] * 8
        if length == 0 or offset + length > len(message):
            return None
        if kind == OPTION_SOURCE_LINK_LAYER:
            # On Ethernet the option is 8 octets: type, length, 6-octet MAC.
            return message[offset + 2 : offset + length]
        offset += length
    return None


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
        _RA_HEADER.pack(ROUTER_ADVERTISEMENT, 0, 0, cur_hop_limit, 0, router_lifetime, 0, 0)
    )
    message += _link_layer_option(link_layer_address)
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
    """An RA back from its octets; ValueError for anything else or a malformed option."""
    if len(message) < _RA_HEADER.size:
        raise ValueError(f"{len(message)} octets is shorter than a Router Advertisement")
    kind, _code, _sum, hop_limit, _flags, lifetime, reachable, retrans = _RA_HEADER.unpack_from(
        message
    )
    if kind != ROUTER_ADVERTISEMENT:
        raise ValueError(f"ICMPv6 type {kind} is not a Router Advertisement")
    prefixes, mac, mtu = [], None, None
    offset = _RA_HEADER.size
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
            if length != _PREFIX.size:
                raise ValueError(f"Prefix Information of {length} octets at offset {offset}")
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
