"""Teach pyroute2 the seg6 reduced-encapsulation mode (``encap.red``).

pyroute2 (0.7 to 0.9) names only the seg6 modes ``inline`` and ``encap`` and
silently encodes any other name as ``encap``, which adds a Segment Routing
Header. Reduced encapsulation with a single segment emits plain RFC 2473
IPv6-in-IPv6 (outer next header 41, no routing header), which is what a
PMIPv6 tunnel must look like on the wire. The kernel value is
SEG6_IPTUN_MODE_ENCAP_RED = 3 (include/uapi/linux/seg6_iptunnel.h).

Callers must still read the route back and check the mode: if a future
pyroute2 renames these tables, this patch becomes a no-op and the fallback
would be silent again. ``tunnels.Seg6Driver`` does that check.
"""

from pyroute2.netlink.rtnl import rtmsg

SEG6_IPTUN_MODE_ENCAP_RED = 3
ENCAP_RED = "encap.red"


def _seg6_header_classes() -> list[type]:
    # Two classes carry a mode table: the seg6 encap header and the seg6local
    # one (End.B6.Encaps); the nexthop message class inherits both from
    # rtmsg_base, so patching them there covers routes and nexthops.
    return [
        rtmsg.rtmsg_base.seg6_encap_info.ipv6_sr_hdr,
        rtmsg.rtmsg_base.seg6local_encap_info.ipv6_sr_hdr,
    ]


def install() -> None:
    """Add ``encap.red`` to pyroute2's seg6 mode tables (idempotent)."""
    for header in _seg6_header_classes():
        header.encapmodes[ENCAP_RED] = SEG6_IPTUN_MODE_ENCAP_RED
        header.r_encapmodes[SEG6_IPTUN_MODE_ENCAP_RED] = ENCAP_RED


install()
