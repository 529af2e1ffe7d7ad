"""The UDP socket that carries hand-back messages from a MAG to the LMA."""

from __future__ import annotations

import socket
from ipaddress import IPv6Address
from typing import NamedTuple

# Large enough for a burst of hand-back datagrams arriving at once.
RECEIVE_BUFFER = 8 * 1024 * 1024
MAX_DATAGRAM = 65535


class HandBackDatagram(NamedTuple):
    source: IPv6Address
    payload: bytes


class HandBackSocket:
    def __init__(self, bind_address: IPv6Address, port: int = 0) -> None:
        self._socket = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            self._socket.bind((str(bind_address), port))
            self._socket.setblocking(False)
        except OSError:
            self._socket.close()
            raise

    def fileno(self) -> int:
        return self._socket.fileno()

    def send(self, destination: IPv6Address, port: int, payload: bytes) -> None:
        self._socket.sendto(payload, (str(destination), port))

    def receive(self) -> HandBackDatagram | None:
        try:
            payload, (source, *_rest) = self._socket.recvfrom(MAX_DATAGRAM)
        except BlockingIOError:
            return None
        return HandBackDatagram(IPv6Address(source.split("%")[0]), payload)

    def close(self) -> None:
        self._socket.close()
