"""Mobility Header checksum over the IPv6 pseudo-header (RFC 6275 6.1.1, RFC 8200 8.1)."""

from ipaddress import IPv6Address

MH_PROTO = 135


def pseudo_header_checksum(
    src: IPv6Address | str,
    dst: IPv6Address | str,
    data: bytes,
    next_header: int = MH_PROTO,
) -> int:
    """One's-complement checksum of pseudo-header + data, as for ICMPv6.

    Over data whose checksum field is zero this is the value to write; over
    data carrying a correct checksum it is 0.
    """
    pseudo = (
        IPv6Address(src).packed
        + IPv6Address(dst).packed
        + len(data).to_bytes(4, "big")
        + bytes((0, 0, 0, next_header))
    )
    # 2**16 == 1 (mod 0xFFFF), so a big integer taken modulo 0xFFFF is the
    # end-around-carry sum of its 16-bit words, computed in C rather than a loop.
    padded = bytes(data) + b"\x00" * (len(data) % 2)
    total = int.from_bytes(pseudo + padded, "big") % 0xFFFF
    # Residue 0 means a one's-complement sum of 0xFFFF: the pseudo-header's
    # non-zero next-header octet rules out the all-zero sum.
    if total == 0:
        total = 0xFFFF
    return ~total & 0xFFFF
