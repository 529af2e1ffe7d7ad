"""Router Solicitation and Advertisement codec (wire/ndisc.py): golden octets
written from RFC 4861's layout, and Wireshark's reading of the same octets."""

from __future__ import annotations

import shutil
import struct
import subprocess
from ipaddress import IPv6Address, IPv6Network

import pytest

from pmip6d.wire.ndisc import (
    PrefixInformation,
    build_router_advertisement,
    build_router_solicitation,
    mac_bytes,
    mac_text,
    parse_router_advertisement,
    source_link_layer_address,
)

HNP = IPv6Network("2001:db8:1:1::/64")
SECOND_HNP = IPv6Network("2001:db8:1:2::/64")
SHARED_MAC = "02:00:5e:00:53:01"
MN_MAC = "02:00:00:00:01:01"

# RFC 4861 4.1: type 133, code, checksum (0: the kernel fills it in), reserved;
# option 1 (Source Link-Layer Address), length 1 (x 8 octets), the MAC.
RS_VECTOR = "85 00 0000 00000000 01 01 020000000101"
# RFC 4861 4.2: type 134, code, checksum, cur hop limit 64, flags 0, router lifetime
# 1800, reachable time 0, retrans timer 0; option 1 with the shared MAC; option 3
# (Prefix Information), length 4, prefix length 64, flags L|A, valid 86400,
# preferred 14400, reserved, the prefix.
RA_VECTOR = (
    "86 00 0000 40 00 0708 00000000 00000000"
    "01 01 02005e005301"
    "03 04 40 c0 00015180 00003840 00000000 20010db8000100010000000000000000"
)


def octets(vector: str) -> bytes:
    return bytes.fromhex(vector.replace(" ", ""))


def test_rs_matches_the_golden_octets():
    assert build_router_solicitation(MN_MAC) == octets(RS_VECTOR)
    assert build_router_solicitation() == octets(RS_VECTOR)[:8]


def test_rs_link_layer_address_is_read_and_its_absence_is_none():
    header = octets(RS_VECTOR)[:8]
    assert source_link_layer_address(octets(RS_VECTOR)) == mac_bytes(MN_MAC)
    assert source_link_layer_address(header) is None
    assert source_link_layer_address(header + bytes([1, 0])) is None  # zero length
    assert source_link_layer_address(header + bytes([1, 2]) + bytes(6)) is None  # past the end


def test_ra_matches_the_golden_octets():
    assert build_router_advertisement([HNP], SHARED_MAC) == octets(RA_VECTOR)


def test_ra_round_trips_every_prefix_and_option():
    message = build_router_advertisement(
        [HNP, SECOND_HNP],
        SHARED_MAC,
        router_lifetime=600,
        valid_lifetime=900,
        preferred_lifetime=300,
        mtu=1400,
    )
    assert message[0] == 134 and message[2:4] == b"\0\0" and len(message) % 8 == 0
    ra = parse_router_advertisement(message)
    assert ra.router_lifetime == 600 and ra.cur_hop_limit == 64 and ra.mtu == 1400
    assert ra.link_layer_address == mac_bytes(SHARED_MAC)
    assert ra.prefixes == [
        PrefixInformation(HNP, 900, 300, on_link=True, autonomous=True),
        PrefixInformation(SECOND_HNP, 900, 300, on_link=True, autonomous=True),
    ]


@pytest.mark.parametrize(
    "message, fragment",
    [
        (bytes([133]) + bytes(15), "133"),
        (bytes([134]) + bytes(5), "shorter"),
        (octets(RA_VECTOR)[:16] + bytes([3, 0]), "malformed option"),
        (octets(RA_VECTOR)[:16] + bytes([3, 2]) + bytes(14), "Prefix Information of 16"),
    ],
)
def test_parse_refuses_what_is_not_a_well_formed_ra(message, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_router_advertisement(message)


def test_mac_spellings():
    assert mac_bytes(SHARED_MAC) == bytes.fromhex("02005e005301")
    assert mac_text(bytes.fromhex("02005e005301")) == SHARED_MAC


# --- Wireshark's reading --------------------------------------------------------

LINKTYPE_IPV6 = 229
ICMPV6 = 58
SOURCE = IPv6Address("fe80::1")
DESTINATION = IPv6Address("fe80::200:ff:fe00:101")


def checksum(message: bytes) -> int:
    """RFC 1071 over the IPv6 pseudo-header, written apart from anything in src/."""
    data = SOURCE.packed + DESTINATION.packed + struct.pack("!IxxxB", len(message), ICMPV6)
    data += message
    total = sum(word for (word,) in struct.iter_unpack("!H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tshark_fields(tmp_path, message: bytes, *fields: str) -> list[str]:
    message = message[:2] + struct.pack("!H", checksum(message)) + message[4:]
    packet = struct.pack("!IHBB", 6 << 28, len(message), ICMPV6, 255)
    packet += SOURCE.packed + DESTINATION.packed + message
    pcap = tmp_path / "nd.pcap"
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_IPV6)
    pcap.write_bytes(header + struct.pack("<IIII", 0, 0, len(packet), len(packet)) + packet)
    argv = ["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=|"]
    for name in ("icmpv6.checksum.status", *fields):
        argv += ["-e", name]
    shown = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    status, *values = shown.split("|")
    assert status == "1", "Wireshark finds the checksum bad: the octets are not an ICMPv6 message"
    return values


needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


@needs_tshark
def test_wireshark_reads_the_rs_as_we_do(tmp_path):
    kind, mac = tshark_fields(tmp_path, octets(RS_VECTOR), "icmpv6.type", "icmpv6.opt.linkaddr")
    assert (kind, mac) == ("133", MN_MAC)


@needs_tshark
def test_wireshark_reads_the_ra_as_we_do(tmp_path):
    message = build_router_advertisement([HNP], SHARED_MAC, mtu=1400)
    ra = parse_router_advertisement(message)
    shown = tshark_fields(
        tmp_path,
        message,
        "icmpv6.type",
        "icmpv6.nd.ra.cur_hop_limit",
        "icmpv6.nd.ra.router_lifetime",
        "icmpv6.opt.linkaddr",
        "icmpv6.opt.mtu",
        "icmpv6.opt.prefix",
        "icmpv6.opt.prefix.length",
        "icmpv6.opt.prefix.flag.l",
        "icmpv6.opt.prefix.flag.a",
        "icmpv6.opt.prefix.valid_lifetime",
        "icmpv6.opt.prefix.preferred_lifetime",
    )
    (prefix,) = ra.prefixes
    assert shown == [
        "134",
        str(ra.cur_hop_limit),
        str(ra.router_lifetime),
        mac_text(ra.link_layer_address),
        str(ra.mtu),
        str(prefix.prefix.network_address),
        str(prefix.prefix.prefixlen),
        str(int(prefix.on_link)),
        str(int(prefix.autonomous)),
        str(prefix.valid_lifetime),
        str(prefix.preferred_lifetime),
    ]
