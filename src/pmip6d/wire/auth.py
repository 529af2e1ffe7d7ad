"""Mobility Message Authentication (RFC 4285) for PMIPv6 signalling, pure.

A sender appends the MN-HA option (type 9, subtype 1) as the last option of
an encoded Mobility Header; a receiver checks it on the raw octets before it
decodes anything else, so nothing an unauthenticated sender wrote is parsed
beyond the option walk that finds the authenticator.

RFC 4285 section 5.1 computes

    Authenticator = First(96, HMAC_SHA1(key, Mobility Data))
    Mobility Data = care-of address | home address | MH Data

where MH Data is the Mobility Header, its checksum zeroed, up to and
including the option's Mobility SPI. PMIPv6 has no home address in its
messages (RFC 5213 5.3.1 drops the Home Address option check of RFC 6275),
and a heartbeat concerns no mobile node at all. What stands in for the pair
here is the pair of nodes the security association belongs to: the
care-of address is the MAG's proxy care-of address (the address a binding
points to, as a care-of address does in RFC 6275) and the home address is
the LMA's address (the PMIPv6 home agent, anchor of the home network
prefixes). In every message between them these are the IPv6 source and
destination, in one order or the other, so the authenticator binds both
ends: a message captured on one MAG-LMA path cannot be replayed with
another source or towards another LMA. `sender_is_mag` says which end sent.

Replay protection is the Timestamp option that RFC 5213 PBUs and PBAs
already carry (RFC 4285 section 5.1 lets the security association use it);
the caller checks it, as the LMA's PBU checks do.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from ipaddress import IPv6Address

from .checksum import pseudo_header_checksum
from .codec import CHECKSUM_SLICE, HEADER_LENGTH, pad_to
from .codes import AuthSubtype
from .messages import MESSAGE_CLASSES
from .options import MobilityMessageAuthentication

AUTH_OPTION = MobilityMessageAuthentication.TYPE
AUTHENTICATOR_LENGTH = 12  # HMAC-SHA1-96
_BODY_LENGTH = 1 + 4 + AUTHENTICATOR_LENGTH  # subtype, SPI, authenticator
_PAD1, _PADN = 0, 1

Address = IPv6Address | str


class AuthFailure(StrEnum):
    """Why a message failed authentication; the daemon counts each reason."""

    MALFORMED = "malformed"  # the Mobility Header cannot even be walked
    MISSING = "missing"  # no authentication option
    MISPLACED = "misplaced"  # more than one, or an option after it
    TRUNCATED = "truncated"  # its authenticator is not the 12 octets of HMAC-SHA1-96
    UNSUPPORTED_SUBTYPE = "unsupported_subtype"  # not MN-HA (1)
    NO_KEY = "no_key"  # the receiver has no key for this peer
    WRONG_SPI = "wrong_spi"  # not the SPI of the receiver's security association
    WRONG_MAC = "wrong_mac"  # forged, altered, or keyed with another key


def authenticate(
    message: bytes,
    key: bytes,
    spi: int,
    src: Address,
    dst: Address,
    *,
    sender_is_mag: bool,
) -> bytes:
    """`message` (an encoded Mobility Header without an authentication option) with
    the MN-HA option appended last, its authenticator computed, and the checksum
    set over the IPv6 pseudo-header of `src` -> `dst`."""
    data = bytes(message)
    options = _walk(data)
    if isinstance(options, AuthFailure):
        raise ValueError(f"cannot authenticate a Mobility Header that is {options.value}")
    if any(kind == AUTH_OPTION for kind, _, _ in options):
        raise ValueError("the message already carries an authentication option")
    end = max((stop for kind, _, stop in options if kind not in (_PAD1, _PADN)), default=None)
    buf = bytearray(data[: end if end is not None else HEADER_LENGTH + _fixed_length(data)])
    pad_to(buf, *MobilityMessageAuthentication.ALIGNMENT)
    buf += MobilityMessageAuthentication(spi).pack()
    pad_to(buf, 8, 0)
    buf[1] = len(buf) // 8 - 1
    buf[CHECKSUM_SLICE] = b"\x00\x00"
    covered = len(buf) - AUTHENTICATOR_LENGTH
    buf[covered:] = _mac(key, buf[:covered], src, dst, sender_is_mag)
    buf[CHECKSUM_SLICE] = pseudo_header_checksum(src, dst, buf).to_bytes(2, "big")
    return bytes(buf)


def verify(
    message: bytes,
    key: bytes | None,
    spi: int,
    src: Address,
    dst: Address,
    *,
    sender_is_mag: bool,
) -> AuthFailure | None:
    """None when `message` carries, as its last option, an MN-HA authenticator made
    with `key` under `spi` for `src` -> `dst`; otherwise the first reason it fails.

    `key` None means the receiver holds no security association with the sender.
    The checksum field is not trusted either way: it is zeroed for the MAC."""
    if key is None:
        return AuthFailure.NO_KEY
    data = bytes(message)
    options = _walk(data)
    if isinstance(options, AuthFailure):
        return options
    found = [(start, stop) for kind, start, stop in options if kind == AUTH_OPTION]
    if not found:
        return AuthFailure.MISSING
    (start, stop), *others = found
    trailing = [kind for kind, begin, _ in options if begin >= stop]
    if others or any(kind not in (_PAD1, _PADN) for kind in trailing):
        return AuthFailure.MISPLACED
    body = data[start + 2 : stop]
    if len(body) != _BODY_LENGTH:
        return AuthFailure.TRUNCATED
    if body[0] != AuthSubtype.MN_HA:
        return AuthFailure.UNSUPPORTED_SUBTYPE
    if int.from_bytes(body[1:5], "big") != spi:
        return AuthFailure.WRONG_SPI
    covered = bytearray(data[: stop - AUTHENTICATOR_LENGTH])
    covered[CHECKSUM_SLICE] = b"\x00\x00"
    expected = _mac(key, covered, src, dst, sender_is_mag)
    if not hmac.compare_digest(expected, body[5:]):
        return AuthFailure.WRONG_MAC
    return None


def _mac(key: bytes, mh_data: bytes, src: Address, dst: Address, sender_is_mag: bool) -> bytes:
    proxy_coa, lma = (src, dst) if sender_is_mag else (dst, src)
    mobility_data = IPv6Address(proxy_coa).packed + IPv6Address(lma).packed + bytes(mh_data)
    return hmac.new(key, mobility_data, hashlib.sha1).digest()[:AUTHENTICATOR_LENGTH]


def _fixed_length(data: bytes) -> int:
    return MESSAGE_CLASSES[data[2]].FIXED_LENGTH


def _walk(data: bytes) -> list[tuple[int, int, int]] | AuthFailure:
    """(type, start, end) of every option, padding included, or why there are none."""
    if len(data) < 8 or (data[1] + 1) * 8 != len(data) or data[2] not in MESSAGE_CLASSES:
        return AuthFailure.MALFORMED
    offset = HEADER_LENGTH + _fixed_length(data)
    if offset > len(data):
        return AuthFailure.MALFORMED
    options = []
    while offset < len(data):
        kind = data[offset]
        if kind == _PAD1:
            options.append((kind, offset, offset + 1))
            offset += 1
            continue
        if offset + 2 > len(data) or offset + 2 + data[offset + 1] > len(data):
            return AuthFailure.TRUNCATED if kind == AUTH_OPTION else AuthFailure.MALFORMED
        end = offset + 2 + data[offset + 1]
        options.append((kind, offset, end))
        offset = end
    return options
