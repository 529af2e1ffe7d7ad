"""Mobility Header framing: header, option alignment and padding, checksum.

Layout (RFC 6275 6.1.1): payload proto, header length in 8-octet units not
counting the first 8, MH type, reserved, checksum, then the message's fixed
fields and its options, the whole a multiple of 8 octets.
"""

from __future__ import annotations

from ipaddress import IPv6Address

from .checksum import pseudo_header_checksum
from .errors import malformed, parameter_problem, unrecognized_type
from .messages import MESSAGE_CLASSES, MobilityMessage
from .options import OPTION_CLASSES, Option, Pad1, Padding, PadN, read_tlv_body

IPPROTO_NONE = 59  # RFC 6275 6.1.1: the payload proto a sender sets
PAYLOAD_PROTO_OFFSET = 0
HEADER_LENGTH_OFFSET = 1
HEADER_LENGTH = 6  # payload proto, header len, MH type, reserved, checksum
CHECKSUM_SLICE = slice(4, 6)
MAX_MESSAGE_LENGTH = 256 * 8  # header length is one octet of 8-octet units

Address = IPv6Address | str | None


def encode(msg: MobilityMessage, src: Address = None, dst: Address = None) -> bytes:
    """The Mobility Header for `msg`, from its payload-proto octet.

    With both addresses the checksum is computed over the IPv6 pseudo-header;
    without them `msg.checksum` is written as it is.
    """
    addresses = _address_pair(src, dst)
    buf = bytearray((IPPROTO_NONE, 0, msg.MH_TYPE, 0, 0, 0))
    buf += msg.pack_fixed()
    for option in msg.options:
        pad_to(buf, *option.ALIGNMENT)
        buf += option.pack()
    pad_to(buf, 8, 0)
    if len(buf) > MAX_MESSAGE_LENGTH:
        raise ValueError(f"message of {len(buf)} octets exceeds {MAX_MESSAGE_LENGTH}")
    buf[1] = len(buf) // 8 - 1
    checksum = pseudo_header_checksum(*addresses, buf) if addresses else msg.checksum
    buf[CHECKSUM_SLICE] = checksum.to_bytes(2, "big")
    return bytes(buf)


def decode(data: bytes, src: Address = None, dst: Address = None) -> MobilityMessage:
    """The message in the Mobility Header `data` (from its payload-proto octet).

    With both addresses the checksum is verified. Padding and options of
    unknown type are dropped (RFC 6275 6.2.1). Raises only ProtocolError, whose
    `reaction` follows the receiver checks of RFC 6275 9.2 in their order:
    checksum, Payload Proto, MH type, Header Len.
    """
    addresses = _address_pair(src, dst)
    data = bytes(data)
    if len(data) < 8:
        raise malformed(f"Mobility Header of {len(data)} octets, at least 8 needed")
    declared = (data[1] + 1) * 8
    if declared != len(data):
        raise malformed(f"header length says {declared} octets, message has {len(data)}")
    if addresses and pseudo_header_checksum(*addresses, data) != 0:
        raise malformed(f"checksum 0x{data[4]:02x}{data[5]:02x} is wrong for {src} -> {dst}")
    if data[PAYLOAD_PROTO_OFFSET] != IPPROTO_NONE:
        raise parameter_problem(
            f"payload proto {data[0]}, must be {IPPROTO_NONE}", PAYLOAD_PROTO_OFFSET
        )
    cls = MESSAGE_CLASSES.get(data[2])
    if cls is None:
        raise unrecognized_type(f"MH type {data[2]} is not supported")
    options_start = HEADER_LENGTH + cls.FIXED_LENGTH
    if options_start > len(data):
        raise parameter_problem(
            f"{cls.__name__} of {len(data)} octets is truncated", HEADER_LENGTH_OFFSET
        )
    return cls.unpack_fixed(
        data[HEADER_LENGTH:options_start],
        options=_unpack_options(data, options_start),
        checksum=int.from_bytes(data[CHECKSUM_SLICE], "big"),
    )


def _address_pair(src: Address, dst: Address) -> tuple[IPv6Address, IPv6Address] | None:
    if (src is None) != (dst is None):
        raise ValueError("give both src and dst for the checksum, or neither")
    if src is None:
        return None
    return IPv6Address(src), IPv6Address(dst)


def pad_to(buf: bytearray, n: int, k: int) -> None:
    """Append Pad1 or PadN so that the next octet sits at n*x + k."""
    gap = (k - len(buf)) % n
    if gap == 1:
        buf += Pad1().pack()
    elif gap > 1:
        buf += PadN(gap - 2).pack()


def _unpack_options(data: bytes, offset: int) -> list[Option]:
    options = []
    while offset < len(data):
        cls = OPTION_CLASSES.get(data[offset])
        if cls is None:
            _, offset = read_tlv_body(data, offset)
            continue
        option, offset = cls.unpack_from(data, offset)
        if not isinstance(option, Padding):
            options.append(option)
    return options
