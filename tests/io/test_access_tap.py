"""The MAG's access tap: the frames an access link dropped at a break, and their checksums."""

import asyncio
import socket
import struct
import time
from ipaddress import IPv6Address

import pytest
from netns_lab import entered, in_ns, route_socket

from pmip6d.io.access_tap import AccessTap, transmit_drops, with_complete_checksum

PORT = 6000
MAG_ADDRESS = "2001:db8:a::1"
MN_ADDRESS = "2001:db8:a::2"


def ones_complement_sum(data: bytes) -> int:
    """RFC 1071, word by word (independent of the implementation under test)."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum_ok(packet: bytes) -> bool:
    """The transport checksum of an IPv6 packet verifies (sums to 0xFFFF)."""
    pseudo = packet[8:40] + struct.pack("!IxxxB", len(packet) - 40, packet[6])
    return ones_complement_sum(pseudo + packet[40:]) == 0xFFFF


def udp_packet(payload: bytes, checksum: int | None = None) -> bytes:
    source, destination = IPv6Address(MAG_ADDRESS).packed, IPv6Address(MN_ADDRESS).packed
    length = 8 + len(payload)
    header = struct.pack("!IHBB", 6 << 28, length, 17, 64) + source + destination
    if checksum is None:
        pseudo = source + destination + struct.pack("!IxxxB", length, 17)
        udp = struct.pack("!HHHH", 4000, PORT, length, 0) + payload
        checksum = ~ones_complement_sum(pseudo + udp) & 0xFFFF
    return header + struct.pack("!HHHH", 4000, PORT, length, checksum) + payload


def test_a_complete_checksum_is_left_as_it_is():
    packet = udp_packet(b"sequence 42")
    assert checksum_ok(packet)
    assert with_complete_checksum(packet) == packet


def test_a_partial_checksum_left_for_offload_is_completed():
    good = udp_packet(b"sequence 43")
    partial = udp_packet(b"sequence 43", checksum=0x1234)  # what CHECKSUM_PARTIAL leaves
    assert not checksum_ok(partial)
    assert with_complete_checksum(partial) == good


def test_packets_of_other_transports_are_not_touched():
    packet = bytearray(udp_packet(b"x"))
    packet[6] = 43  # a routing header follows: the checksum is not where UDP's is
    assert with_complete_checksum(bytes(packet)) == bytes(packet)


@pytest.fixture
def link(namespaces):
    mag, mn = namespaces.add("mag"), namespaces.add("mn")
    namespaces.link(mag, "acc", mn, "mn0")
    namespaces.address(mag, "acc", f"{MAG_ADDRESS}/64")
    namespaces.address(mn, "mn0", f"{MN_ADDRESS}/64")
    with entered(mn):
        receiver = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        receiver.bind(("::", PORT))
        receiver.setblocking(False)
    with entered(mag):
        sender = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sender.bind((MAG_ADDRESS, 4000))
        tap = AccessTap("acc")
    # Resolve the MN's address once, so every datagram below goes out as sent.
    sender.sendto(b"hello", (MN_ADDRESS, PORT))
    time.sleep(0.2)
    with receiver, sender:
        yield mag, mn, sender, receiver, tap
    tap.close()


def drops(mag: str) -> int:
    async def read() -> int | None:
        ipr = await route_socket(mag)
        try:
            return await transmit_drops(ipr, "acc")
        finally:
            ipr.close()

    value = asyncio.run(read())
    assert value is not None
    return value


@pytest.mark.root
def test_the_tap_keeps_outgoing_frames_only_newest_last(link):
    _mag, mn, sender, receiver, tap = link
    for number in range(5):
        sender.sendto(b"frame %d" % number, (MN_ADDRESS, PORT))
        # The MN's traffic toward the MAG is incoming there: not kept.
        receiver.sendto(b"from the MN", (MAG_ADDRESS, 4000))
    time.sleep(0.1)
    # Neighbour discovery goes out on the link too; the UDP frames are in order.
    payloads = [packet[48:] for packet in tap.last_sent(20) if packet[6] == 17]
    assert payloads[-5:] == [b"frame %d" % number for number in range(5)]
    assert b"from the MN" not in payloads


@pytest.mark.root
def test_the_frames_a_broken_link_dropped_are_the_newest_sent_and_deliverable(link):
    mag, mn, sender, _receiver, tap = link
    sender.sendto(b"delivered", (MN_ADDRESS, PORT))
    time.sleep(0.1)
    before = drops(mag)
    in_ns(mn, "ip", "link", "set", "mn0", "down")  # the MN leaves: the MAG's frames die
    for number in range(3):
        sender.sendto(b"lost %d" % number, (MN_ADDRESS, PORT))
    dropped = drops(mag) - before

    recovered = tap.last_sent(dropped)

    assert dropped == 3
    assert [packet[48:] for packet in recovered] == [b"lost 0", b"lost 1", b"lost 2"]
    assert all(checksum_ok(packet) for packet in recovered)
