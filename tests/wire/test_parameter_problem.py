"""The ICMPv6 Parameter Problem of RFC 6275 9.2, checked against tshark's ICMPv6 dissector."""

import shutil
import struct
import subprocess
from ipaddress import IPv6Address

import pytest

from pmip6d.wire import BindingUpdate, encode
from pmip6d.wire.parameter_problem import MAX_QUOTE, invoking_packet, parameter_problem

MAG, LMA = IPv6Address("2001:db8:ffff::11"), IPv6Address("2001:db8:ffff::1")


def bad_payload_proto() -> bytes:
    data = bytearray(encode(BindingUpdate(sequence=9, proxy=True), MAG, LMA))
    data[0] = 6
    return bytes(data)


def test_the_pointer_counts_from_the_start_of_the_rebuilt_packet():
    message = parameter_problem(MAG, LMA, bad_payload_proto(), 0)
    kind, code, checksum, pointer = struct.unpack("!BBHI", message[:8])
    assert (kind, code, checksum, pointer) == (4, 0, 0, 40)
    quoted = message[8:]
    assert quoted == invoking_packet(MAG, LMA, bad_payload_proto())
    assert quoted[6] == 135 and quoted[8:24] == MAG.packed and quoted[24:40] == LMA.packed
    assert quoted[pointer] == 6  # the octet the pointer names: Payload Proto


def test_the_quote_is_cut_to_fit_the_minimum_mtu():
    message = parameter_problem(MAG, LMA, bytes(2048), 1)
    assert len(message) == 8 + MAX_QUOTE and 40 + len(message) <= 1280


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_reads_the_error_and_the_mobility_header_it_quotes(tmp_path):
    body = parameter_problem(MAG, LMA, bad_payload_proto(), 0)
    # As the kernel sends it: from the LMA to the MAG, checksum filled in.
    pseudo = LMA.packed + MAG.packed + struct.pack("!I3xB", len(body), 58)
    total = sum(struct.unpack(f"!{(len(pseudo + body)) // 2}H", pseudo + body))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    body = body[:2] + struct.pack("!H", ~total & 0xFFFF) + body[4:]
    packet = struct.pack("!IHBB", 6 << 28, len(body), 58, 64) + LMA.packed + MAG.packed + body
    pcap = tmp_path / "pp.pcap"
    pcap.write_bytes(
        struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 229)
        + struct.pack("<IIII", 0, 0, len(packet), len(packet))
        + packet
    )
    fields = subprocess.run(
        [
            "tshark",
            "-r",
            str(pcap),
            "-T",
            "fields",
            "-e",
            "icmpv6.type",
            "-e",
            "icmpv6.code",
            "-e",
            "icmpv6.pointer",
            "-e",
            "icmpv6.checksum.status",
            "-e",
            "mip6.proto",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    assert fields == ["4", "0", "40", "1", "6"]
