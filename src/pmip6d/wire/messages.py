"""Mobility Header messages: one class per MH type, registered by type code.

Each class packs and unpacks its fixed fields (between the MH checksum and the
options); the Mobility Header framing lives in `codec`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import ClassVar, TypeVar

from .codes import BindingErrorStatus, Status, enum_or_int, status_or_int
from .options import Option

MESSAGE_CLASSES: dict[int, type[MobilityMessage]] = {}

LIFETIME_UNIT = 4  # seconds per lifetime unit on the wire (RFC 6275 6.1.7)
MAX_LIFETIME = 0xFFFF * LIFETIME_UNIT

OptionT = TypeVar("OptionT", bound=Option)


@dataclass(frozen=True, kw_only=True)
class MobilityMessage:
    """Fields common to every message: its options and the checksum as carried."""

    MH_TYPE: ClassVar[int]
    FIXED_LENGTH: ClassVar[int]  # octets of fixed fields after the 6-octet MH header
    # Flag attribute name -> bit in the message's flags field.
    FLAGS: ClassVar[dict[str, int]] = {}

    options: tuple[Option, ...] = ()
    checksum: int = 0

    def __init_subclass__(cls, mh_type: int | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if mh_type is not None:
            if mh_type in MESSAGE_CLASSES:
                raise TypeError(f"MH type {mh_type} registered twice")
            cls.MH_TYPE = mh_type
            MESSAGE_CLASSES[mh_type] = cls

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))
        if not 0 <= self.checksum <= 0xFFFF:
            raise ValueError(f"checksum {self.checksum} does not fit in 16 bits")

    def option(self, cls: type[OptionT]) -> OptionT | None:
        """The first option of class `cls`, or None."""
        for candidate in self.options:
            if type(candidate) is cls:
                return candidate
        return None

    def options_of(self, cls: type[OptionT]) -> list[OptionT]:
        """Every option of class `cls`, in message order."""
        return [candidate for candidate in self.options if type(candidate) is cls]

    def flag_bits(self) -> int:
        return sum(bit for name, bit in self.FLAGS.items() if getattr(self, name))

    @classmethod
    def flags_from_bits(cls, bits: int) -> dict[str, bool]:
        return {name: bool(bits & bit) for name, bit in cls.FLAGS.items()}

    def pack_fixed(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def unpack_fixed(
        cls, fixed: bytes, options: Iterable[Option], checksum: int
    ) -> MobilityMessage:
        raise NotImplementedError


def check_sequence(sequence: int) -> None:
    if not 0 <= sequence <= 0xFFFF:
        raise ValueError(f"sequence {sequence} does not fit in 16 bits")


def check_lifetime(lifetime: int) -> None:
    if lifetime % LIFETIME_UNIT or not 0 <= lifetime <= MAX_LIFETIME:
        raise ValueError(
            f"lifetime {lifetime} s is not a multiple of {LIFETIME_UNIT} s in 0..{MAX_LIFETIME}"
        )


@dataclass(frozen=True, kw_only=True)
class BindingUpdate(MobilityMessage, mh_type=5):
    """Binding Update (RFC 6275 6.1.7); with `ack` and `proxy` set, a Proxy Binding Update
    (RFC 5213 8.1). `lifetime` is in seconds; 0 is a de-registration."""

    FIXED_LENGTH = 6
    FLAGS = {
        "ack": 0x8000,
        "home": 0x4000,
        "link_local": 0x2000,
        "key_mgmt": 0x1000,
        "mobile_router": 0x0800,
        "router": 0x0400,
        "proxy": 0x0200,
    }
    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("!HHH")  # sequence, flags, lifetime

    sequence: int = 0
    lifetime: int = 0
    ack: bool = False
    home: bool = False
    link_local: bool = False
    key_mgmt: bool = False
    mobile_router: bool = False
    router: bool = False
    proxy: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_sequence(self.sequence)
        check_lifetime(self.lifetime)

    def pack_fixed(self) -> bytes:
        return self._LAYOUT.pack(self.sequence, self.flag_bits(), self.lifetime // LIFETIME_UNIT)

    @classmethod
    def unpack_fixed(cls, fixed: bytes, options: Iterable[Option], checksum: int) -> BindingUpdate:
        sequence, bits, units = cls._LAYOUT.unpack(fixed)
        return cls(
            sequence=sequence,
            lifetime=units * LIFETIME_UNIT,
            options=tuple(options),
            checksum=checksum,
            **cls.flags_from_bits(bits),
        )


@dataclass(frozen=True, kw_only=True)
class BindingAcknowledgement(MobilityMessage, mh_type=6):
    """Binding Acknowledgement (RFC 6275 6.1.8); with `proxy` set, a Proxy Binding
    Acknowledgement (RFC 5213 8.2). `status` is a `Status` or any other octet."""

    FIXED_LENGTH = 6
    FLAGS = {"key_mgmt": 0x80, "router": 0x40, "proxy": 0x20}
    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("!BBHH")  # status, flags, seq, lifetime

    status: int = Status.ACCEPTED
    sequence: int = 0
    lifetime: int = 0
    key_mgmt: bool = False
    router: bool = False
    proxy: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.status <= 255:
            raise ValueError(f"status {self.status} does not fit in one octet")
        check_sequence(self.sequence)
        check_lifetime(self.lifetime)

    def pack_fixed(self) -> bytes:
        return self._LAYOUT.pack(
            self.status, self.flag_bits(), self.sequence, self.lifetime // LIFETIME_UNIT
        )

    @classmethod
    def unpack_fixed(
        cls, fixed: bytes, options: Iterable[Option], checksum: int
    ) -> BindingAcknowledgement:
        status, bits, sequence, units = cls._LAYOUT.unpack(fixed)
        return cls(
            status=status_or_int(status),
            sequence=sequence,
            lifetime=units * LIFETIME_UNIT,
            options=tuple(options),
            checksum=checksum,
            **cls.flags_from_bits(bits),
        )


@dataclass(frozen=True, kw_only=True)
class Heartbeat(MobilityMessage, mh_type=13):
    """Heartbeat (RFC 5847 5.1) between a MAG and an LMA: a request (`response` clear),
    its response (`response` set, same `sequence`), or an unsolicited response
    (`unsolicited` and `response` set) that a restarted node sends to announce its
    new Restart Counter."""

    FIXED_LENGTH = 6
    FLAGS = {"unsolicited": 0x02, "response": 0x01}
    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("!BBI")  # reserved, flags, sequence

    sequence: int = 0
    unsolicited: bool = False
    response: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.sequence <= 0xFFFFFFFF:
            raise ValueError(f"heartbeat sequence {self.sequence} does not fit in 32 bits")

    def pack_fixed(self) -> bytes:
        return self._LAYOUT.pack(0, self.flag_bits(), self.sequence)

    @classmethod
    def unpack_fixed(cls, fixed: bytes, options: Iterable[Option], checksum: int) -> Heartbeat:
        _reserved, bits, sequence = cls._LAYOUT.unpack(fixed)
        return cls(
            sequence=sequence,
            options=tuple(options),
            checksum=checksum,
            **cls.flags_from_bits(bits),
        )


@dataclass(frozen=True, kw_only=True)
class BindingError(MobilityMessage, mh_type=7):
    """Binding Error (RFC 6275 6.1.9): `status` 1 (unknown binding for a Home Address
    option) or 2 (unrecognized MH type), and the home address of the offending
    packet's Home Address option (`::` when it had none, as PMIPv6 messages do)."""

    FIXED_LENGTH = 18
    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("!BB16s")  # status, reserved, home address

    status: int = BindingErrorStatus.UNRECOGNIZED_MH_TYPE
    home_address: IPv6Address = IPv6Address("::")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.status <= 255:
            raise ValueError(f"status {self.status} does not fit in one octet")
        object.__setattr__(self, "status", enum_or_int(BindingErrorStatus, self.status))
        if not isinstance(self.home_address, IPv6Address):
            object.__setattr__(self, "home_address", IPv6Address(self.home_address))

    def pack_fixed(self) -> bytes:
        return self._LAYOUT.pack(self.status, 0, self.home_address.packed)

    @classmethod
    def unpack_fixed(cls, fixed: bytes, options: Iterable[Option], checksum: int) -> BindingError:
        status, _reserved, home_address = cls._LAYOUT.unpack(fixed)
        return cls(
            status=status,
            home_address=IPv6Address(home_address),
            options=tuple(options),
            checksum=checksum,
        )
