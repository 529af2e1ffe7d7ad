"""Mobility options: one class per option, registered by type code.

Each class packs and unpacks only its own body (the octets after type and
length); framing, alignment and skipping unknown types live in `codec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network
from typing import ClassVar, Self

from .codes import AuthSubtype, MnIdSubtype, enum_or_int
from .errors import malformed

OPTION_CLASSES: dict[int, type[Option]] = {}


@dataclass(frozen=True)
class Option:
    """Base of all mobility options: type code, alignment and body codec."""

    TYPE: ClassVar[int]
    # Alignment as (n, k): the option's type octet sits at n*x + k from the
    # start of the Mobility Header (RFC 6275 6.2).
    ALIGNMENT: ClassVar[tuple[int, int]] = (1, 0)

    def __init_subclass__(cls, type_code: int | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if type_code is not None:
            if type_code in OPTION_CLASSES:
                raise TypeError(f"option type {type_code} registered twice")
            cls.TYPE = type_code
            OPTION_CLASSES[type_code] = cls

    def pack(self) -> bytes:
        body = self.pack_body()
        if len(body) > 255:
            raise ValueError(f"{type(self).__name__} body of {len(body)} octets exceeds 255")
        return bytes((self.TYPE, len(body))) + body

    def pack_body(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def unpack_body(cls, body: bytes) -> Self:
        raise NotImplementedError

    @classmethod
    def unpack_from(cls, data: bytes, offset: int) -> tuple[Self, int]:
        """Decode the option at data[offset]; return it and the offset after it."""
        body, end = read_tlv_body(data, offset)
        return cls.unpack_body(body), end


def read_tlv_body(data: bytes, offset: int) -> tuple[bytes, int]:
    """The body of the type-length-value option at data[offset] and the offset after it."""
    if offset + 2 > len(data):
        raise malformed(f"option type {data[offset]} at offset {offset} has no length octet")
    end = offset + 2 + data[offset + 1]
    if end > len(data):
        raise malformed(
            f"option type {data[offset]} at offset {offset} runs {end - len(data)} octets "
            "past the end of the message"
        )
    return data[offset + 2 : end], end


def expect_length(cls: type[Option], body: bytes, length: int) -> None:
    if len(body) != length:
        raise malformed(f"{cls.__name__} option length {len(body)}, expected {length}")


def check_octet(name: str, value: int) -> None:
    if not 0 <= value <= 255:
        raise ValueError(f"{name} {value} does not fit in one octet")


class Padding:
    """Marker for Pad1 and PadN: framing, dropped from decoded messages."""


@dataclass(frozen=True)
class Pad1(Option, Padding, type_code=0):
    """One octet of padding; the only option without a length octet."""

    def pack(self) -> bytes:
        return b"\x00"

    @classmethod
    def unpack_from(cls, data: bytes, offset: int) -> tuple[Pad1, int]:
        return cls(), offset + 1


@dataclass(frozen=True)
class PadN(Option, Padding, type_code=1):
    """Two or more octets of padding; `length` counts the zero octets after type and length."""

    length: int = 0

    def __post_init__(self) -> None:
        check_octet("PadN length", self.length)

    def pack_body(self) -> bytes:
        return bytes(self.length)

    @classmethod
    def unpack_body(cls, body: bytes) -> PadN:
        # RFC 6275 6.2.2: the receiver ignores the padding contents.
        return cls(len(body))


@dataclass(frozen=True)
class MobileNodeIdentifier(Option, type_code=8):
    """Mobile Node Identifier (RFC 4283): a subtype and the identifier's octets.

    Subtype 1 is a Network Access Identifier (UTF-8 text, `nai`); RFC 8371
    adds IPv6 address, IMSI, P-TMSI, EUI-48, EUI-64, GUTI and DUID (2..8).
    Every subtype is decoded and carried as octets: what names an MN is the
    pair (subtype, identifier), `key`. A zero-length identifier is what a PBA
    rejecting a PBU without MN-ID carries (RFC 5213 5.3.6).
    `MobileNodeIdentifier("mn1@lab")` is an NAI.
    """

    identifier: bytes
    subtype: int = MnIdSubtype.NAI

    def __post_init__(self) -> None:
        if isinstance(self.identifier, str):
            object.__setattr__(self, "identifier", self.identifier.encode("utf-8"))
        object.__setattr__(self, "identifier", bytes(self.identifier))
        object.__setattr__(self, "subtype", enum_or_int(MnIdSubtype, self.subtype))
        check_octet("MobileNodeIdentifier subtype", self.subtype)
        if len(self.identifier) > 254:
            raise ValueError(f"identifier of {len(self.identifier)} octets; must be 0..254")

    @property
    def nai(self) -> str | None:
        """The NAI, for subtype 1 in valid UTF-8; None for any other identifier."""
        if self.subtype != MnIdSubtype.NAI:
            return None
        try:
            return self.identifier.decode("utf-8")
        except UnicodeDecodeError:
            return None

    @property
    def key(self) -> tuple[int, bytes]:
        return int(self.subtype), self.identifier

    @property
    def text(self) -> str:
        """A printable name: the NAI itself, or `<subtype>:<hex>` for other identifiers."""
        return mn_id_text(self.subtype, self.identifier)

    def pack_body(self) -> bytes:
        return bytes((self.subtype,)) + self.identifier

    @classmethod
    def unpack_body(cls, body: bytes) -> MobileNodeIdentifier:
        if len(body) < 1:
            raise malformed("MobileNodeIdentifier option length 0, expected >= 1")
        return cls(body[1:], body[0])


def mn_id_text(subtype: int, identifier: bytes) -> str:
    if subtype == MnIdSubtype.NAI:
        try:
            return identifier.decode("utf-8")
        except UnicodeDecodeError:
            pass
    name = subtype.name.lower() if isinstance(subtype, MnIdSubtype) else f"subtype{subtype}"
    return f"{name}:{identifier.hex()}"


@dataclass(frozen=True)
class HomeNetworkPrefix(Option, type_code=22):
    """Home Network Prefix (RFC 5213 8.3); prefix length 0 and :: asks the LMA to assign one."""

    ALIGNMENT = (8, 4)
    prefix: IPv6Network

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, IPv6Network):
            object.__setattr__(self, "prefix", IPv6Network(self.prefix))

    def pack_body(self) -> bytes:
        return bytes((0, self.prefix.prefixlen)) + self.prefix.network_address.packed

    @classmethod
    def unpack_body(cls, body: bytes) -> HomeNetworkPrefix:
        expect_length(cls, body, 18)
        prefix_length = body[1]
        if prefix_length > 128:
            raise malformed(f"HomeNetworkPrefix prefix length {prefix_length} exceeds 128")
        # Bits beyond the prefix length carry no meaning: drop them.
        host_mask = (1 << (128 - prefix_length)) - 1
        network_int = int.from_bytes(body[2:18], "big") & ~host_mask
        return cls(IPv6Network((network_int, prefix_length)))


@dataclass(frozen=True)
class HandoffIndicator(Option, type_code=23):
    """Handoff Indicator (RFC 5213 8.4); `value` is a `Handoff` or any other octet."""

    value: int

    def __post_init__(self) -> None:
        check_octet("Handoff Indicator", self.value)

    def pack_body(self) -> bytes:
        return bytes((0, self.value))

    @classmethod
    def unpack_body(cls, body: bytes) -> HandoffIndicator:
        expect_length(cls, body, 2)
        return cls(body[1])


@dataclass(frozen=True)
class AccessTechnologyType(Option, type_code=24):
    """Access Technology Type (RFC 5213 8.5); `value` is an `AccessTechnology` or any octet."""

    value: int

    def __post_init__(self) -> None:
        check_octet("Access Technology Type", self.value)

    def pack_body(self) -> bytes:
        return bytes((0, self.value))

    @classmethod
    def unpack_body(cls, body: bytes) -> AccessTechnologyType:
        expect_length(cls, body, 2)
        return cls(body[1])


@dataclass(frozen=True)
class MobileNodeLinkLayerIdentifier(Option, type_code=25):
    """Mobile Node Link-layer Identifier (RFC 5213 8.6): 16 reserved bits, then the identifier."""

    ALIGNMENT = (8, 2)
    link_layer_id: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "link_layer_id", bytes(self.link_layer_id))
        if not 1 <= len(self.link_layer_id) <= 253:
            raise ValueError(f"link-layer identifier of {len(self.link_layer_id)} octets")

    def pack_body(self) -> bytes:
        return b"\x00\x00" + self.link_layer_id

    @classmethod
    def unpack_body(cls, body: bytes) -> MobileNodeLinkLayerIdentifier:
        if len(body) < 3:
            raise malformed(
                f"MobileNodeLinkLayerIdentifier option length {len(body)}, expected >= 3"
            )
        return cls(body[2:])


@dataclass(frozen=True)
class LinkLocalAddress(Option, type_code=26):
    """Link-local Address of the MAG's access link (RFC 5213 8.7)."""

    ALIGNMENT = (8, 6)
    address: IPv6Address

    def __post_init__(self) -> None:
        if not isinstance(self.address, IPv6Address):
            object.__setattr__(self, "address", IPv6Address(self.address))

    def pack_body(self) -> bytes:
        return self.address.packed

    @classmethod
    def unpack_body(cls, body: bytes) -> LinkLocalAddress:
        expect_length(cls, body, 16)
        return cls(IPv6Address(body))


@dataclass(frozen=True)
class Timestamp(Option, type_code=27):
    """Timestamp (RFC 5213 8.8): `value` is the raw 64-bit field, 48-bit seconds since
    1970-01-01 UTC and 16 bits of 1/65536 second."""

    ALIGNMENT = (8, 2)
    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value < 1 << 64:
            raise ValueError(f"timestamp {self.value} does not fit in 64 bits")

    @classmethod
    def from_seconds(cls, seconds: float) -> Timestamp:
        return cls(round(seconds * 65536))

    @property
    def seconds(self) -> float:
        return self.value / 65536

    def pack_body(self) -> bytes:
        return self.value.to_bytes(8, "big")

    @classmethod
    def unpack_body(cls, body: bytes) -> Timestamp:
        expect_length(cls, body, 8)
        return cls(int.from_bytes(body, "big"))


@dataclass(frozen=True)
class RestartCounter(Option, type_code=28):
    """Restart Counter (RFC 5847 5.2): a 32-bit value that changes whenever the
    sender restarts, carried in Heartbeat responses."""

    ALIGNMENT = (4, 2)
    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 0xFFFFFFFF:
            raise ValueError(f"restart counter {self.value} does not fit in 32 bits")

    def pack_body(self) -> bytes:
        return self.value.to_bytes(4, "big")

    @classmethod
    def unpack_body(cls, body: bytes) -> RestartCounter:
        expect_length(cls, body, 4)
        return cls(int.from_bytes(body, "big"))


@dataclass(frozen=True)
class MobilityMessageAuthentication(Option, type_code=9):
    """Mobility Message Authentication (RFC 4285 section 5): subtype (1, MN-HA), the
    32-bit Mobility SPI naming the security association, then the authenticator
    (HMAC-SHA1-96: 12 octets). It MUST be the last option; `wire.auth` computes
    and checks it. Aligned so that the SPI is on a 4-octet boundary and the option
    ends the message on an 8-octet boundary with no padding after it."""

    ALIGNMENT = (8, 5)
    spi: int
    authenticator: bytes = bytes(12)
    subtype: int = AuthSubtype.MN_HA

    def __post_init__(self) -> None:
        object.__setattr__(self, "authenticator", bytes(self.authenticator))
        object.__setattr__(self, "subtype", enum_or_int(AuthSubtype, self.subtype))
        check_octet("Mobility Message Authentication subtype", self.subtype)
        if not 0 <= self.spi <= 0xFFFFFFFF:
            raise ValueError(f"Mobility SPI {self.spi} does not fit in 32 bits")
        if len(self.authenticator) > 250:
            raise ValueError(f"authenticator of {len(self.authenticator)} octets exceeds 250")

    def pack_body(self) -> bytes:
        return bytes((self.subtype,)) + self.spi.to_bytes(4, "big") + self.authenticator

    @classmethod
    def unpack_body(cls, body: bytes) -> MobilityMessageAuthentication:
        if len(body) < 5:
            raise malformed(
                f"MobilityMessageAuthentication option length {len(body)}, expected >= 5"
            )
        return cls(int.from_bytes(body[1:5], "big"), body[5:], body[0])
