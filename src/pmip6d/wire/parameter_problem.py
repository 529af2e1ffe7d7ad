"""ICMPv6 Parameter Problem (RFC 4443 3.4) about a Mobility Header, pure.

RFC 6275 9.2 asks a receiver to answer a Payload Proto other than 59, or a
Header Len too short for the MH type, with a Parameter Problem, code 0, whose
pointer names the offending octet. A raw IPPROTO_MH socket hands over the
Mobility Header without its IPv6 header, so the quoted invoking packet is
rebuilt from the addresses and the octets; its hop limit is not known to
such a reader and is written as 0. The checksum is left 0: the kernel fills
in ICMPv6 checksums on raw ICMPv6 sockets.
"""

from __future__ import annotations

import struct
from ipaddress import IPv6Address

from .checksum import MH_PROTO

PARAMETER_PROBLEM = 4
ERRONEOUS_HEADER_FIELD = 0  # code 0
IPV6_HEADER = 40
MIN_MTU = 1280
# The error must fit the minimum MTU: IPv6 header and ICMPv6 header before the quote.
MAX_QUOTE = MIN_MTU - IPV6_HEADER - 8


def invoking_packet(src: IPv6Address, dst: IPv6Address, mobility_header: bytes) -> bytes:
    """The IPv6 packet that carried `mobility_header` from `src` to `dst`, rebuilt."""
    header = struct.pack("!IHBB", 6 << 28, len(mobility_header), MH_PROTO, 0)
    return header + IPv6Address(src).packed + IPv6Address(dst).packed + bytes(mobility_header)


def parameter_problem(
    src: IPv6Address, dst: IPv6Address, mobility_header: bytes, pointer: int
) -> bytes:
    """The ICMPv6 message about `mobility_header` (sent `src` -> `dst`) whose octet
    `pointer`, counted from the start of the Mobility Header, is wrong."""
    quote = invoking_packet(src, dst, mobility_header)[:MAX_QUOTE]
    return struct.pack(
        "!BBHI", PARAMETER_PROBLEM, ERRONEOUS_HEADER_FIELD, 0, IPV6_HEADER + pointer
    ) + bytes(quote)
