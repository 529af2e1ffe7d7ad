"""Raw IPv6 socket for Mobility Header messages (next header 135).

The kernel computes the MH checksum on send and verifies it on receive
(packets with a bad checksum never reach us) because IPV6_CHECKSUM is set to
offset 4, where the MH checksum sits. Linux does the same by default for
IPPROTO_MH raw sockets when built with CONFIG_IPV6_MIP6; setting the option
makes it explicit and independent of that. Callers may therefore pass MH
bytes with any checksum (``wire.encode(msg)`` without addresses is fine): the
kernel subtracts whatever is in the field before writing the sum.

Non-blocking; register ``fileno()`` with ``loop.add_reader`` and call
``receive()`` until it returns None.
"""

import socket
import struct
from ipaddress import IPv6Address
from typing import NamedTuple

IPPROTO_MH = 135
MH_CHECKSUM_OFFSET = 4
IPV6_CHECKSUM = 7
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
MAX_MESSAGE = 65535
_PKTINFO = struct.Struct("16sI")


class MobilityHeaderDatagram(NamedTuple):
    source: IPv6Address
    destination: IPv6Address
    payload: bytes


class MobilityHeaderSocket:
    def __init__(self, bind_address: IPv6Address | None = None):
        self._socket = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
        try:
            self._socket.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, MH_CHECKSUM_OFFSET)
            self._socket.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            if bind_address is not None:
                self._socket.bind((str(bind_address), 0))
            self._socket.setblocking(False)
        except OSError:
            self._socket.close()
            raise

    def fileno(self) -> int:
        return self._socket.fileno()

    def send(self, destination: IPv6Address, payload: bytes) -> None:
        """Send one MH message; the IPv6 header and checksum come from the kernel."""
        self._socket.sendto(payload, (str(destination), 0))

    def receive(self) -> MobilityHeaderDatagram | None:
        """Return the next message, or None when nothing is waiting."""
        try:
            data, ancillary, _flags, (source, *_rest) = self._socket.recvmsg(
                MAX_MESSAGE, socket.CMSG_SPACE(_PKTINFO.size)
            )
        except BlockingIOError:
            return None
        destination = IPv6Address("::")
        for level, kind, value in ancillary:
            if level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO:
                destination = IPv6Address(_PKTINFO.unpack(value[: _PKTINFO.size])[0])
        return MobilityHeaderDatagram(IPv6Address(source.split("%")[0]), destination, data)

    def close(self) -> None:
        self._socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
