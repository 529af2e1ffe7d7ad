"""RFC 4285 Mobility Message Authentication: the authenticated vectors check out, and
every way a message can fail is told apart, before anything is decoded."""

from __future__ import annotations

import hashlib
import hmac
import json
from ipaddress import IPv6Address
from pathlib import Path

import pytest

from pmip6d.wire import (
    BindingUpdate,
    Heartbeat,
    MobileNodeIdentifier,
    MobilityMessageAuthentication,
    Timestamp,
    decode,
    encode,
)
from pmip6d.wire.auth import AuthFailure, authenticate, verify

VALID = sorted((Path(__file__).parents[1] / "vectors" / "valid").glob("*.json"))
AUTHENTICATED = [p for p in VALID if "auth" in json.loads(p.read_text())]
MAG, LMA = "2001:db8:ffff::11", "2001:db8:ffff::1"
KEY, SPI = bytes(range(16)), 4096
PBU = BindingUpdate(
    sequence=7,
    lifetime=300,
    ack=True,
    proxy=True,
    options=[MobileNodeIdentifier("mn1@pmipv6.lab"), Timestamp.from_seconds(1.7e9)],
)


def signed(message=PBU, key=KEY, spi=SPI, src=MAG, dst=LMA, from_mag=True) -> bytes:
    return authenticate(encode(message), key, spi, src, dst, sender_is_mag=from_mag)


def check(data: bytes, key=KEY, spi=SPI, src=MAG, dst=LMA, from_mag=True):
    return verify(data, key, spi, src, dst, sender_is_mag=from_mag)


def test_the_vectors_carry_authenticators_we_can_verify() -> None:
    assert len(AUTHENTICATED) >= 3
    for path in AUTHENTICATED:
        vector = json.loads(path.read_text())
        auth = vector["auth"]
        data = bytes.fromhex(vector["hex"])
        failure = verify(
            data,
            bytes.fromhex(auth["key"]),
            auth["spi"],
            vector["src"],
            vector["dst"],
            sender_is_mag=auth["sender_is_mag"],
        )
        assert failure is None, path.stem


def test_the_authenticator_is_hmac_sha1_96_over_proxy_coa_lma_and_the_header_to_the_spi() -> None:
    # Written out from RFC 4285 5.1, independently of the module's helper.
    for src, dst, from_mag in ((MAG, LMA, True), (LMA, MAG, False)):
        data = signed(src=src, dst=dst, from_mag=from_mag)
        covered = bytearray(data[:-12])
        covered[4:6] = b"\0\0"
        proxy_coa, lma = (src, dst) if from_mag else (dst, src)
        text = IPv6Address(proxy_coa).packed + IPv6Address(lma).packed + bytes(covered)
        assert data[-12:] == hmac.new(KEY, text, hashlib.sha1).digest()[:12]
        assert data[-19] == 9 and data[-17] == 1  # type 9, subtype 1 (MN-HA)
        assert int.from_bytes(data[-16:-12], "big") == SPI
        assert len(data) % 8 == 0 and (len(data) - 19) % 8 == 5  # last, with no padding after


def test_an_authenticated_message_decodes_with_its_checksum_and_the_option_last() -> None:
    message = decode(signed(), MAG, LMA)
    assert message.options[:-1] == PBU.options
    assert message.options[-1] == MobilityMessageAuthentication(SPI, signed()[-12:])


def test_no_key_is_its_own_reason_whatever_the_message() -> None:
    assert check(signed(), key=None) is AuthFailure.NO_KEY
    assert check(b"", key=None) is AuthFailure.NO_KEY


def test_a_message_without_the_option_is_missing_it() -> None:
    assert check(encode(PBU, MAG, LMA)) is AuthFailure.MISSING


def test_a_wrong_key_a_wrong_spi_and_a_wrong_subtype() -> None:
    assert check(signed(key=b"another key")) is AuthFailure.WRONG_MAC
    assert check(signed(spi=SPI + 1)) is AuthFailure.WRONG_SPI
    data = bytearray(signed())
    data[-17] = 2  # MN-AAA
    assert check(bytes(data)) is AuthFailure.UNSUPPORTED_SUBTYPE


@pytest.mark.parametrize("octet", range(0, 45))
def test_any_altered_octet_before_the_authenticator_is_caught(octet: int) -> None:
    data = bytearray(signed())
    if octet in (4, 5):  # the checksum is outside the MAC by design
        return
    data[octet] ^= 0x01
    assert check(bytes(data)) is not None


def test_the_checksum_is_not_what_is_trusted() -> None:
    data = bytearray(signed())
    data[4:6] = b"\0\0"
    assert check(bytes(data)) is None


def test_the_addresses_and_the_direction_are_bound() -> None:
    data = signed()
    assert check(data, src="2001:db8:ffff::12") is AuthFailure.WRONG_MAC  # a spoofed MAG
    assert check(data, dst="2001:db8:ffff::2") is AuthFailure.WRONG_MAC  # another LMA
    assert check(data, from_mag=False) is AuthFailure.WRONG_MAC


def test_a_truncated_option_is_truncated() -> None:
    data = bytearray(signed())
    data[-18] = 13  # length 13: only 8 octets of authenticator
    assert check(bytes(data[:-4]) + bytes(4)) in (AuthFailure.TRUNCATED, AuthFailure.MALFORMED)
    short = bytearray(encode(PBU))
    short += bytes((9, 9)) + bytes(9)  # claims 9 octets: subtype, SPI, 4 of 12
    short += bytes(-len(short) % 8)
    short[1] = len(short) // 8 - 1
    assert check(bytes(short)) is AuthFailure.TRUNCATED


def test_an_option_after_the_authenticator_is_misplaced() -> None:
    data = signed()
    # Append a Timestamp after it (8 more octets once framed).
    later = bytearray(data) + bytes((27, 6)) + bytes(6)
    later[1] = len(later) // 8 - 1
    assert check(bytes(later)) is AuthFailure.MISPLACED
    # Padding after it is no misplacement, but the Header Len it changes is covered.
    padded = bytearray(data) + bytes((1, 6)) + bytes(6)
    padded[1] = len(padded) // 8 - 1
    assert check(bytes(padded)) is AuthFailure.WRONG_MAC


def test_two_options_are_misplaced() -> None:
    once = signed()
    twice = bytearray(once) + once[-19:] + bytes(5)
    twice[1] = len(twice) // 8 - 1
    assert check(bytes(twice)) is AuthFailure.MISPLACED


@pytest.mark.parametrize("data", [b"", bytes(8), bytes.fromhex("3b00c80000000000")])
def test_what_cannot_be_walked_is_malformed(data: bytes) -> None:
    assert check(data) is AuthFailure.MALFORMED


def test_authenticate_refuses_a_second_option_and_works_for_heartbeats() -> None:
    with pytest.raises(ValueError, match="already"):
        authenticate(signed(), KEY, SPI, MAG, LMA, sender_is_mag=True)
    beat = signed(Heartbeat(sequence=3), src=LMA, dst=MAG, from_mag=False)
    assert check(beat, src=LMA, dst=MAG, from_mag=False) is None
    assert decode(beat, LMA, MAG).sequence == 3
