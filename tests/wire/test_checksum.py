import struct
from ipaddress import IPv6Address

from pmip6d.wire import MH_PROTO, pseudo_header_checksum

SRC, DST = "2001:db8::2", "2001:db8::1"


def ones_complement_sum(data: bytes) -> int:
    """RFC 1071 word loop, independent of the helper's modulo shortcut."""
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return total


def pseudo_header(data_length: int) -> bytes:
    return (
        IPv6Address(SRC).packed
        + IPv6Address(DST).packed
        + struct.pack("!IxxxB", data_length, MH_PROTO)
    )


def test_checksum_matches_rfc1071_and_verifies_to_zero() -> None:
    data = bytearray(bytes.fromhex("3b01060000000000") + bytes(range(1, 9)))
    checksum = pseudo_header_checksum(SRC, DST, data)
    assert checksum == ~ones_complement_sum(pseudo_header(len(data)) + data) & 0xFFFF
    data[4:6] = checksum.to_bytes(2, "big")
    assert pseudo_header_checksum(SRC, DST, data) == 0


def test_sum_of_all_ones_gives_checksum_zero() -> None:
    # Pick the last word so the one's-complement sum is exactly 0xFFFF: the
    # case where the modulo shortcut's residue is 0 and must not read as 0x0000.
    head = bytes.fromhex("3b00050000000001")
    partial = ones_complement_sum(pseudo_header(len(head) + 2) + head)
    data = head + (0xFFFF - partial).to_bytes(2, "big")
    assert ones_complement_sum(pseudo_header(len(data)) + data) == 0xFFFF
    assert pseudo_header_checksum(SRC, DST, data) == 0


def test_odd_length_is_padded_with_zero_but_counted_unpadded() -> None:
    data = bytes.fromhex("3b0005")
    expected = ~ones_complement_sum(pseudo_header(3) + data + b"\x00") & 0xFFFF
    assert pseudo_header_checksum(SRC, DST, data) == expected


def test_addresses_are_part_of_the_sum() -> None:
    data = bytes(16)
    assert pseudo_header_checksum(SRC, DST, data) != pseudo_header_checksum(DST, "::1", data)
