"""MH messages between two namespaces: the kernel fills in and checks the checksum."""

import select
import socket
from ipaddress import IPv6Address, IPv6Network

import pytest

from pmip6d import wire
from pmip6d.io.mh_socket import IPV6_CHECKSUM, MobilityHeaderSocket
from tests.io.pmip_path import capture, entered, tshark_fields

MAG = IPv6Address("2001:db8:1::2")
LMA = IPv6Address("2001:db8:1::1")


@pytest.fixture
def pair(namespaces):
    mag = namespaces.add("mag", router=True)
    lma = namespaces.add("lma", router=True)
    namespaces.link(mag, "lma", lma, "mag")
    namespaces.address(mag, "lma", f"{MAG}/64")
    namespaces.address(lma, "mag", f"{LMA}/64")
    return mag, lma


def proxy_binding_update() -> wire.BindingUpdate:
    return wire.BindingUpdate(
        sequence=7,
        lifetime=3600,
        ack=True,
        proxy=True,
        options=[
            wire.MobileNodeIdentifier("mn1@example.net"),
            wire.HomeNetworkPrefix(IPv6Network("2001:db8:100::/64")),
            wire.HandoffIndicator(1),
            wire.AccessTechnologyType(4),
            wire.Timestamp.from_seconds(1_700_000_000.5),
        ],
    )


def receive_within(sock: MobilityHeaderSocket, seconds: float):
    ready, _, _ = select.select([sock], [], [], seconds)
    return sock.receive() if ready else None


def ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def pseudo_header(src: IPv6Address, dst: IPv6Address, length: int) -> bytes:
    return src.packed + dst.packed + length.to_bytes(4, "big") + bytes(3) + bytes([135])


def test_pbu_arrives_with_a_kernel_computed_checksum(namespaces, pair, tmp_path):
    mag, lma = pair
    with entered(mag):
        sender = MobilityHeaderSocket(MAG)
    with entered(lma):
        receiver = MobilityHeaderSocket()
    unsummed = wire.encode(proxy_binding_update())
    assert unsummed[4:6] == b"\0\0"
    pcap = str(tmp_path / "mh.pcap")

    with sender, receiver, capture(namespaces, lma, "mag", pcap, "ip6 proto 135"):
        sender.send(LMA, unsummed)
        datagram = receive_within(receiver, 2)

    assert datagram is not None
    assert (datagram.source, datagram.destination) == (MAG, LMA)
    on_wire = datagram.payload
    assert on_wire[4:6] != b"\0\0"
    pseudo = pseudo_header(MAG, LMA, len(on_wire))
    assert ones_complement_sum(pseudo + on_wire) == 0xFFFF
    assert on_wire[:4] + on_wire[6:] == unsummed[:4] + unsummed[6:]
    assert wire.decode(on_wire, datagram.source, datagram.destination).sequence == 7
    # Wireshark's independent view of the same packet.
    fields = tshark_fields(pcap, "mipv6", "mip6.mhtype", "mip6.csum", "mip6.bu.seqnr")
    assert fields == [["5", f"0x{on_wire[4]:02x}{on_wire[5]:02x}", "7"]]


def test_a_message_with_a_wrong_checksum_is_dropped_by_the_kernel(pair):
    mag, lma = pair
    with entered(mag):
        raw = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 135)
        # Turn the kernel checksum off so the zero checksum goes out as it is.
        raw.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, -1)
    with entered(lma):
        receiver = MobilityHeaderSocket()
    with raw, receiver:
        raw.sendto(wire.encode(proxy_binding_update()), (str(LMA), 0))
        assert receive_within(receiver, 0.5) is None


def test_receive_returns_none_when_idle(pair):
    _, lma = pair
    with entered(lma), MobilityHeaderSocket() as idle:
        assert idle.receive() is None
