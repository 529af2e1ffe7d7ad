"""Shared bits of the raw ICMPv6 sockets (RS snooping, RA sending); the messages
themselves are in wire/ndisc.py."""

import socket
import struct

ICMP6_FILTER = 1
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
PKTINFO = struct.Struct("16sI")


def icmpv6_socket() -> socket.socket:
    return socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)


def pass_only(sock: socket.socket, icmp_type: int) -> None:
    """ICMP6_FILTER letting only ``icmp_type`` through (a set bit blocks a type)."""
    blocked = [0xFFFFFFFF] * 8
    blocked[icmp_type >> 5] &= ~(1 << (icmp_type & 31))
    sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("8I", *blocked))


class ErrorSender:
    """Sends ICMPv6 error messages already built (wire/parameter_problem.py); the
    raw socket is opened on first use, as most daemons never send one."""

    def __init__(self) -> None:
        self._socket: socket.socket | None = None

    def send(self, dst: str, message: bytes) -> None:
        if self._socket is None:
            self._socket = icmpv6_socket()
            self._socket.setblocking(False)
        self._socket.sendto(message, (dst, 0))

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
