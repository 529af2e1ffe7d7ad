"""Route replacements on a handover's critical path, encoded here, not by pyroute2.

A handover puts two route changes in a row before the MN's first released
packet: the new MAG's access route (before its PBU) and the LMA's prefix
route into the tunnel to that MAG (before the release). pyroute2 builds each
request through its request filters and generic attribute encoder, which
costs 0.5-1 ms of CPU per route on the lab's 2-core machines, more than the
kernel's work by far. The requests have one fixed shape (RTM_NEWROUTE with
NLM_F_REPLACE: a prefix, a table, a metric, an output interface and, for a
seg6 or BPF tunnel, its encapsulation), so they are packed with `struct` from
the kernel's uapi layouts (rtnetlink.h, lwtunnel.h, seg6_iptunnel.h, seg6.h) in
tens of microseconds. Everything else, dumps and reading routes back
included, stays with pyroute2; tests/io/test_route_request.py checks that
the kernel stores exactly what pyroute2's own request would have stored.

The socket is a plain blocking rtnetlink socket: the kernel handles a route
request inside `send`, so its acknowledgement is already queued when `recv`
runs, and the daemon's event loop does not wait.
"""

from __future__ import annotations

import errno
import itertools
import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

from pyroute2.netlink.exceptions import NetlinkError

from pmip6d.io.ownership import AF_INET6, ROUTE_PROTOCOL

NETLINK_ROUTE = 0
RTM_NEWROUTE = 24
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_CREATE = 0x1, 0x4, 0x100, 0x400
RTN_UNICAST = 1
RT_SCOPE_UNIVERSE = 0
RT_TABLE_UNSPEC = 0
RTA_DST, RTA_OIF, RTA_PRIORITY, RTA_TABLE, RTA_ENCAP_TYPE, RTA_ENCAP = 1, 4, 6, 15, 21, 22
NLA_F_NESTED = 0x8000
LWTUNNEL_ENCAP_SEG6, LWTUNNEL_ENCAP_BPF = 5, 6
SEG6_IPTUNNEL_SRH = 1
LWT_BPF_XMIT, LWT_BPF_XMIT_HEADROOM = 3, 4
LWT_BPF_PROG_FD, LWT_BPF_PROG_NAME = 1, 2
IPV6_SRCRT_TYPE_4 = 4

_NLMSGHDR = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTATTR = struct.Struct("=HH")
_NLMSGERR = struct.Struct("=i")


@dataclass(frozen=True)
class Seg6Encap:
    """seg6 lightweight tunnel: `mode`, `segments` in path order."""

    mode: int
    segments: tuple[IPv6Address, ...]


@dataclass(frozen=True)
class BpfEncap:
    """BPF lightweight tunnel: the program `fd` at the lwt xmit hook, and the
    `headroom` it adds (subtracted from the route's MTU by the kernel)."""

    fd: int
    name: str
    headroom: int


Encapsulation = Seg6Encap | BpfEncap


@dataclass(frozen=True)
class Route:
    """`prefix` out of `oif` in `table`, with an encapsulation when given."""

    prefix: IPv6Network
    table: int
    oif: int
    priority: int | None = None
    encap: Encapsulation | None = None
    protocol: int = ROUTE_PROTOCOL


def _attribute(kind: int, payload: bytes) -> bytes:
    length = _RTATTR.size + len(payload)
    return _RTATTR.pack(length, kind) + payload + b"\0" * (-length % 4)


def seg6_encapsulation(mode: int, segments: tuple[IPv6Address, ...]) -> bytes:
    """RTA_ENCAP for seg6: `struct seg6_iptunnel_encap` (the mode, then an SRH
    whose segment list is stored last segment first, as the kernel expects)."""
    last = len(segments) - 1
    srh = struct.pack("=BBBBBBH", 0, 2 * len(segments), IPV6_SRCRT_TYPE_4, last, last, 0, 0)
    srh += b"".join(segment.packed for segment in reversed(segments))
    return _attribute(SEG6_IPTUNNEL_SRH, struct.pack("=i", mode) + srh)


def bpf_encapsulation(encap: BpfEncap) -> bytes:
    """RTA_ENCAP for LWTUNNEL_ENCAP_BPF: the xmit program (fd and name), then
    the headroom (include/uapi/linux/lwtunnel.h)."""
    program = _attribute(LWT_BPF_PROG_FD, struct.pack("=I", encap.fd))
    program += _attribute(LWT_BPF_PROG_NAME, encap.name.encode() + b"\0")
    return _attribute(LWT_BPF_XMIT | NLA_F_NESTED, program) + _attribute(
        LWT_BPF_XMIT_HEADROOM, struct.pack("=I", encap.headroom)
    )


def _encapsulation_attributes(encap: Encapsulation) -> list[bytes]:
    if isinstance(encap, Seg6Encap):
        kind, payload = LWTUNNEL_ENCAP_SEG6, seg6_encapsulation(encap.mode, encap.segments)
    else:
        kind, payload = LWTUNNEL_ENCAP_BPF, bpf_encapsulation(encap)
    return [
        _attribute(RTA_ENCAP_TYPE, struct.pack("=H", kind)),
        _attribute(RTA_ENCAP | NLA_F_NESTED, payload),
    ]


def new_route_request(sequence: int, route: Route) -> bytes:
    """RTM_NEWROUTE for `route`, creating it or replacing the one it matches."""
    header = _RTMSG.pack(
        AF_INET6,
        route.prefix.prefixlen,
        0,  # src_len
        0,  # tos
        route.table if route.table < 256 else RT_TABLE_UNSPEC,
        route.protocol,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
        0,  # flags
    )
    attributes = [
        _attribute(RTA_TABLE, struct.pack("=I", route.table)),
        _attribute(RTA_DST, route.prefix.network_address.packed),
        _attribute(RTA_OIF, struct.pack("=I", route.oif)),
    ]
    if route.priority is not None:
        attributes.append(_attribute(RTA_PRIORITY, struct.pack("=I", route.priority)))
    if route.encap is not None:
        attributes += _encapsulation_attributes(route.encap)
    body = header + b"".join(attributes)
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_NEWROUTE, flags, sequence, 0) + body


class RouteRequests:
    """A blocking rtnetlink socket for `new_route_request` messages."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self._socket.settimeout(1.0)
        self._socket.bind((0, 0))
        self._sequence = itertools.count(1)

    def replace(self, route: Route) -> None:
        """Create or replace `route`; a refusal raises pyroute2's NetlinkError, as
        `AsyncIPRoute.route` would."""
        sequence = next(self._sequence)
        self._socket.send(new_route_request(sequence, route))
        while True:
            try:
                reply = self._socket.recv(65536)
            except TimeoutError:
                raise NetlinkError(errno.ETIMEDOUT, "no answer to a route request") from None
            _, kind, _, reply_sequence, _ = _NLMSGHDR.unpack_from(reply)
            if kind == NLMSG_ERROR and reply_sequence == sequence:
                (error,) = _NLMSGERR.unpack_from(reply, _NLMSGHDR.size)
                if error:
                    reason = errno.errorcode.get(-error, str(-error))
                    raise NetlinkError(-error, f"route {route.prefix} refused: {reason}")
                return

    def close(self) -> None:
        self._socket.close()
