"""Shared bits of the raw ICMPv6 sockets (RS snooping, RA sending)."""

import socket
import struct

ICMP6_FILTER = 1
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
ND_HOP_LIMIT = 255  # RFC 4861: ND messages are only valid with hop limit 255
OPTION_SOURCE_LINK_LAYER = 1
OPTION_PREFIX_INFORMATION = 3
OPTION_MTU = 5
PKTINFO = struct.Struct("16sI")


def icmpv6_socket() -> socket.socket:
    return socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)


def pass_only(sock: socket.socket, icmp_type: int) -> None:
    """ICMP6_FILTER letting only ``icmp_type`` through (a set bit blocks a type)."""
    blocked = [0xFFFFFFFF] * 8
    blocked[icmp_type >> 5] &= ~(1 << (icmp_type & 31))
    sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("8I", *blocked))


def mac_bytes(mac: str | bytes) -> bytes:
    if isinstance(mac, bytes):
        return mac
    return bytes(int(part, 16) for part in mac.split(":"))


def mac_text(mac: bytes) -> str:
    return ":".join(f"{octet:02x}" for octet in mac)
