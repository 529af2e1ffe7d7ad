"""What a MAG last sent on an access link, to take back what the link dropped.

When an MN's link breaks, the MAG learns of it from the kernel's link
notification, and the same kernel step (linkwatch) marks the MN's access
route dead so that the hold route takes over (io/hold_route.py). Frames
routed in the milliseconds between the break and that step are already past
routing: the access device drops them (its ``tx_dropped`` counter), out of
reach of any route or NFQUEUE rule. docs/buffering.md, "the link-break
window".

A packet socket sees every frame the MAG sends on the access link just before
the driver transmits or drops it. The drops at a link break are the newest
frames sent: every transmission after the peer went down fails, and nothing
goes to the device once the route moved. So the newest ``tx_dropped``-increase
frames are the ones the MN never got, in order, and the MAG hands them back
ahead of what its hold route caught. (A radio access point knows the same from
its unacknowledged frames.)

The socket is read in batches on a timer, not per frame: a wake-up per frame
would cost the MAG a tenth of a core at 10,000 packets/s. The kernel keeps the
frames queued in between (RING_BYTES); if that queue ever overflowed, the
newest frames may be missing, and the caller must not guess.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections import deque
from ipaddress import IPv6Address

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from pmip6d.wire.checksum import pseudo_header_checksum

ETH_P_ALL = 0x0003
ETH_P_IPV6 = 0x86DD
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_RCVBUFFORCE = 33
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
# Room for 200 ms of small frames at 10,000 packets/s between two reads.
RING_BYTES = 8 * 1024 * 1024
# Classic BPF (tcpdump -dd outbound): accept a frame only if skb->pkt_type is
# PACKET_OUTGOING, so the MN's own traffic is never queued.
_OUTBOUND_ONLY = [
    (0x28, 0, 0, 0xFFFFF004),  # ldh [SKF_AD_OFF + SKF_AD_PKTTYPE]
    (0x15, 0, 1, 0x00000004),  # jeq #PACKET_OUTGOING
    (0x06, 0, 0, 0x00040000),  # ret #262144
    (0x06, 0, 0, 0x00000000),  # ret #0
]
# Far more than a break-to-linkwatch window holds at 10,000 packets/s.
DEFAULT_KEEP = 4096
# Where the checksum sits in each transport header we complete.
_CHECKSUM_OFFSET = {6: 16, 17: 6, 58: 2}  # TCP, UDP, ICMPv6
IPV6_HEADER = 40


def _attach_filter(sock: socket.socket) -> None:
    """SO_ATTACH_FILTER with a struct sock_fprog (length, pointer): four fixed
    instructions, so written out here rather than pulling in a BPF library."""
    code = ctypes.create_string_buffer(
        b"".join(struct.pack("=HBBI", *insn) for insn in _OUTBOUND_ONLY)
    )
    program = struct.pack("@HP", len(_OUTBOUND_ONLY), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program)


def with_complete_checksum(packet: bytes) -> bytes:
    """The packet with its TCP/UDP/ICMPv6 checksum computed over the whole segment.

    A packet socket sees a forwarded packet as the device would send it: with
    checksum offload, a checksum the sender's stack left partial
    (CHECKSUM_PARTIAL: only the pseudo-header sum) for hardware that a veth
    never has. Re-sent as raw bytes it would be dropped by the MN's stack.
    (NFQUEUE completes checksums itself; the packet socket does not.)
    Recomputing a complete checksum gives the same value, so every packet of
    these transports is recomputed; others, and packets with extension
    headers, are returned unchanged.
    """
    offset = _CHECKSUM_OFFSET.get(packet[6]) if len(packet) >= IPV6_HEADER else None
    if offset is None or len(packet) < IPV6_HEADER + offset + 2:
        return packet
    segment = bytearray(packet[IPV6_HEADER:])
    segment[offset : offset + 2] = b"\x00\x00"
    checksum = pseudo_header_checksum(
        IPv6Address(packet[8:24]), IPv6Address(packet[24:40]), bytes(segment), packet[6]
    )
    if checksum == 0 and packet[6] == 17:
        checksum = 0xFFFF  # UDP sends a computed zero as all ones (RFC 8200 8.1)
    segment[offset : offset + 2] = checksum.to_bytes(2, "big")
    return packet[:IPV6_HEADER] + bytes(segment)


async def transmit_drops(ipr: AsyncIPRoute, ifname: str) -> int | None:
    """The device's ``tx_dropped`` counter, or None if there is no such device.
    (Netlink, not sysfs: /sys shows this namespace's devices only where it was
    mounted in it, as `ip netns exec` and Docker do but a setns() caller does not.)"""
    try:
        (index,) = await ipr.link_lookup(ifname=ifname)
        links = [link async for link in await ipr.get_links(index)]
    except (ValueError, NetlinkError):
        return None
    stats = links[0].get("stats64") if links else None
    return None if stats is None else stats.get("tx_dropped")


class AccessTap:
    """The last ``keep`` frames this node sent on one interface, by send time."""

    def __init__(self, ifname: str, keep: int = DEFAULT_KEEP) -> None:
        self.ifname = ifname
        # (kernel timestamp ns, ethertype, network-layer bytes)
        self._sent: deque[tuple[int, int, bytes]] = deque(maxlen=keep)
        # Frames the kernel could not queue for us (socket full), ever.
        self.overflows = 0
        self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
        try:
            _attach_filter(self._socket)
            self._socket.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RING_BYTES)
            self._socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self._socket.bind((ifname, ETH_P_ALL))
            self._socket.setblocking(False)
        except OSError:
            self._socket.close()
            raise

    def drain(self) -> None:
        """Move every queued frame into the ring (the oldest fall out)."""
        receive = self._socket.recvmsg
        append = self._sent.append
        while True:
            try:
                frame, ancillary, _flags, address = receive(65535, 64)
            except BlockingIOError:
                break
            stamp = 0
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    seconds, nanoseconds = struct.unpack("=qq", data[:16])
                    stamp = seconds * 1_000_000_000 + nanoseconds
            append((stamp, address[1], frame))
        # Reading the statistics resets them: (queued, dropped) since the last read.
        _queued, dropped = struct.unpack(
            "=II", self._socket.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        )
        self.overflows += dropped

    def last_sent(self, count: int) -> list[bytes]:
        """The IPv6 packets among the newest ``count`` frames sent, oldest first,
        with complete transport checksums. Fewer if the ring holds fewer.

        Newest by the kernel's timestamp, not by arrival in the socket: two CPUs
        forwarding at once can queue their copies in the other order."""
        self.drain()
        if count <= 0:
            return []
        newest = sorted(self._sent, key=lambda entry: entry[0])[-count:]
        return [
            with_complete_checksum(frame)
            for _stamp, protocol, frame in newest
            if protocol == ETH_P_IPV6
        ]

    def close(self) -> None:
        self._socket.close()
