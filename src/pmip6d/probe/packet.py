"""The probe datagram: a fixed header followed by padding up to the requested size.

Layout (network byte order, 28 octets, then zero padding):

    magic   4  b"PMP6"
    version 1  1
    flags   1  reserved, 0
    spare   2  reserved, 0
    run_id  4  identifies one sender run, so strays of another run are ignored
    seq     8  0, 1, 2, ... (64 bits: never wraps in practice)
    send_ns 8  sender's CLOCK_REALTIME at send, in nanoseconds

The send time is wall-clock time, not monotonic, because it is compared with the
receiver's arrival time: sender and receiver are expected to run in namespaces or
containers of one host, which share CLOCK_REALTIME, so one-way latency is exact.
Across hosts it is only as good as their clock synchronisation.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"PMP6"
VERSION = 1
HEADER = struct.Struct("!4sBBHIQQ")
HEADER_SIZE = HEADER.size
# Largest UDP payload over IPv4; IPv6 allows a little more but this is the portable bound.
MAX_SIZE = 65507
DEFAULT_SIZE = 64


class MalformedDatagram(ValueError):
    """The bytes are not a probe datagram of a version this code understands."""


@dataclass(frozen=True, slots=True)
class ProbeHeader:
    run_id: int
    seq: int
    send_ns: int


def make_buffer(size: int) -> bytearray:
    """A zeroed datagram buffer; the sender rewrites only the header in place."""
    if not HEADER_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"datagram size must be {HEADER_SIZE}..{MAX_SIZE} bytes, got {size}")
    return bytearray(size)


def write_header(buffer: bytearray, run_id: int, seq: int, send_ns: int) -> None:
    HEADER.pack_into(buffer, 0, MAGIC, VERSION, 0, 0, run_id, seq, send_ns)


def encode(run_id: int, seq: int, send_ns: int, size: int = DEFAULT_SIZE) -> bytes:
    buffer = make_buffer(size)
    write_header(buffer, run_id, seq, send_ns)
    return bytes(buffer)


def decode(data: bytes | bytearray | memoryview) -> ProbeHeader:
    if len(data) < HEADER_SIZE:
        raise MalformedDatagram(f"{len(data)} bytes is shorter than the {HEADER_SIZE}-byte header")
    magic, version, _flags, _spare, run_id, seq, send_ns = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise MalformedDatagram(f"bad magic {magic!r}")
    if version != VERSION:
        raise MalformedDatagram(f"unsupported version {version}")
    return ProbeHeader(run_id, seq, send_ns)
