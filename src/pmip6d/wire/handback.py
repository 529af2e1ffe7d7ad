"""The hand-back message: packets a previous MAG held for an MN, sent to the LMA.

Not part of RFC 5213: this project's answer to the in-flight window (see
docs/buffering.md). A MAG that held packets for a detached MN sends them to
the LMA once its de-registration is settled, as UDP datagrams of this form:

    magic "PMHB" | version 1 | flags (0x01 = last chunk) | NAI length (16)
    | chunk number (16) | packet count (16) | NAI | count x (length (16) | IPv6 packet)

A hand-back of many packets is split into chunks that each fit one datagram;
one with no packets at all still goes out, so the LMA knows nothing more is
coming and need not wait.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"PMHB"
VERSION = 1
FLAG_LAST = 0x01
DEFAULT_PORT = 5436
# Stay well inside one IPv6 UDP datagram (65,507 octets of payload).
MAX_DATAGRAM = 60_000

_HEADER = struct.Struct("!4sBBHHH")
_LENGTH = struct.Struct("!H")


class HandBackError(ValueError):
    """A datagram that is not a well-formed hand-back message."""


@dataclass(frozen=True)
class HandBack:
    mn_id: str
    chunk: int
    last: bool
    packets: tuple[bytes, ...]


def pack_hand_back(
    mn_id: str, packets: list[bytes], max_datagram: int = MAX_DATAGRAM
) -> list[bytes]:
    """Encode `packets` for `mn_id` as one or more datagrams, in order."""
    nai = mn_id.encode()
    overhead = _HEADER.size + len(nai)
    if overhead + _LENGTH.size >= max_datagram:
        raise ValueError("the MN identifier leaves no room for packets")
    chunks: list[list[bytes]] = [[]]
    size = overhead
    for packet in packets:
        needed = _LENGTH.size + len(packet)
        if overhead + needed > max_datagram:
            raise ValueError(f"a packet of {len(packet)} octets does not fit a hand-back datagram")
        if size + needed > max_datagram:
            chunks.append([])
            size = overhead
        chunks[-1].append(packet)
        size += needed
    datagrams = []
    for number, chunk in enumerate(chunks):
        flags = FLAG_LAST if number == len(chunks) - 1 else 0
        header = _HEADER.pack(MAGIC, VERSION, flags, len(nai), number, len(chunk))
        body = b"".join(_LENGTH.pack(len(p)) + p for p in chunk)
        datagrams.append(header + nai + body)
    return datagrams


def unpack_hand_back(data: bytes) -> HandBack:
    if len(data) < _HEADER.size:
        raise HandBackError(f"{len(data)} octets is shorter than the hand-back header")
    magic, version, flags, nai_length, chunk, count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise HandBackError("not a hand-back message (bad magic)")
    if version != VERSION:
        raise HandBackError(f"hand-back version {version} is not supported")
    offset = _HEADER.size
    nai = data[offset : offset + nai_length]
    if len(nai) != nai_length:
        raise HandBackError("the MN identifier runs past the end")
    try:
        mn_id = nai.decode()
    except UnicodeDecodeError:
        raise HandBackError("the MN identifier is not UTF-8") from None
    offset += nai_length
    packets = []
    for _ in range(count):
        if offset + _LENGTH.size > len(data):
            raise HandBackError("a packet length runs past the end")
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        packet = data[offset : offset + length]
        if len(packet) != length:
            raise HandBackError("a packet runs past the end")
        packets.append(packet)
        offset += length
    if offset != len(data):
        raise HandBackError(f"{len(data) - offset} octets follow the last packet")
    return HandBack(mn_id, chunk, bool(flags & FLAG_LAST), tuple(packets))
