"""Codec behaviour beyond the golden vectors: registries, units, padding, unknown
options, the API's argument checks."""

from ipaddress import IPv6Address, IPv6Network

import pytest

from pmip6d.wire import (
    MAX_LIFETIME,
    MESSAGE_CLASSES,
    OPTION_CLASSES,
    AccessTechnology,
    AccessTechnologyType,
    BindingAcknowledgement,
    BindingError,
    BindingErrorStatus,
    BindingUpdate,
    Handoff,
    HandoffIndicator,
    Heartbeat,
    HomeNetworkPrefix,
    LinkLocalAddress,
    MnIdSubtype,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    MobilityMessageAuthentication,
    Option,
    Pad1,
    PadN,
    ProtocolError,
    Reaction,
    RestartCounter,
    Status,
    Timestamp,
    decode,
    encode,
)

SRC, DST = "2001:db8::2", "2001:db8::1"


def test_registries_map_rfc_type_codes_to_classes() -> None:
    assert MESSAGE_CLASSES == {
        5: BindingUpdate,
        6: BindingAcknowledgement,
        7: BindingError,
        13: Heartbeat,
    }
    assert OPTION_CLASSES == {
        0: Pad1,
        1: PadN,
        8: MobileNodeIdentifier,
        9: MobilityMessageAuthentication,
        22: HomeNetworkPrefix,
        23: HandoffIndicator,
        24: AccessTechnologyType,
        25: MobileNodeLinkLayerIdentifier,
        26: LinkLocalAddress,
        27: Timestamp,
        28: RestartCounter,
    }


def test_registering_a_type_code_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="registered twice"):

        class Impostor(Option, type_code=22):
            pass

    assert OPTION_CLASSES[22] is HomeNetworkPrefix


def test_status_and_value_enums_carry_rfc_codes() -> None:
    assert Status.ACCEPTED == 0 and Status.MISSING_ACCESS_TECH_TYPE_OPTION == 162
    assert Status.SEQUENCE_NUMBER_OUT_OF_WINDOW == 135
    assert Handoff.SAME_INTERFACE_DIFFERENT_MAG == 3 and Handoff.NOT_CHANGED == 5
    assert AccessTechnology.ETHERNET == 3 and AccessTechnology.WLAN == 4


def test_lifetime_is_seconds_in_the_api_and_4_second_units_on_the_wire() -> None:
    data = encode(BindingUpdate(sequence=0x0102, lifetime=3600, ack=True, proxy=True))
    assert data[6:12] == bytes.fromhex("010282000384")  # 3600 s = 900 units
    assert decode(data).lifetime == 3600


@pytest.mark.parametrize("lifetime", [1, 10, 3599, MAX_LIFETIME + 4, -4])
def test_unrepresentable_lifetime_is_refused(lifetime: int) -> None:
    with pytest.raises(ValueError, match="lifetime"):
        BindingUpdate(lifetime=lifetime)
    with pytest.raises(ValueError, match="lifetime"):
        BindingAcknowledgement(lifetime=lifetime)


def test_out_of_range_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="sequence"):
        BindingUpdate(sequence=0x10000)
    with pytest.raises(ValueError, match="status"):
        BindingAcknowledgement(status=256)
    with pytest.raises(ValueError, match="octet"):
        HandoffIndicator(256)
    with pytest.raises(ValueError, match="identifier of 255 octets"):
        MobileNodeIdentifier("x" * 255)
    with pytest.raises(ValueError, match="subtype"):
        MobileNodeIdentifier("mn1@lab", 256)
    with pytest.raises(ValueError, match="SPI"):
        MobilityMessageAuthentication(1 << 32)
    with pytest.raises(ValueError, match="64 bits"):
        Timestamp(1 << 64)


def test_message_without_options_is_padded_to_eight_octets_with_padn() -> None:
    data = encode(BindingAcknowledgement(status=Status.ACCEPTED, sequence=7, proxy=True))
    assert len(data) == 16 and data[1] == 1
    assert data[12:] == bytes.fromhex("01020000")  # PadN carrying two zero octets


def test_one_octet_gaps_use_pad1() -> None:
    # MN-ID "ab" ends at offset 12 + 5 = 17; the Timestamp wants 8n+2 -> gap 1.
    msg = BindingUpdate(options=[MobileNodeIdentifier("ab"), Timestamp(1)])
    data = encode(msg)
    assert data[17] == 0x00 and data[18] == Timestamp.TYPE
    assert decode(data).options == msg.options


@pytest.mark.parametrize(
    ("option", "alignment"),
    [
        (HomeNetworkPrefix("2001:db8::/64"), (8, 4)),
        (LinkLocalAddress("fe80::1"), (8, 6)),
        (Timestamp(5), (8, 2)),
        (MobileNodeLinkLayerIdentifier(b"\x02\x00\x00\x00\x00\x01"), (8, 2)),
    ],
)
@pytest.mark.parametrize("nai", ["a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "h" * 8])
def test_aligned_options_land_on_their_rfc_offset(option, alignment, nai: str) -> None:
    data = encode(BindingUpdate(options=[MobileNodeIdentifier(nai), option]))
    offset = data.index(bytes((option.TYPE, len(option.pack()) - 2)), 12 + 3 + len(nai))
    n, k = alignment
    assert offset % n == k
    assert len(data) % 8 == 0 and data[1] == len(data) // 8 - 1


def test_unknown_options_are_skipped() -> None:
    hi = HandoffIndicator(Handoff.UNKNOWN)
    known = encode(BindingUpdate(options=[hi]))  # 12 + 4 octets, no padding needed
    unknown_option = bytes.fromhex("6406abcdef012345")  # type 100, six octets of data
    data = bytearray(known + unknown_option)
    data[1] = len(data) // 8 - 1
    assert decode(bytes(data)).options == (hi,)


def test_explicit_padding_is_encoded_and_dropped_on_decode() -> None:
    msg = BindingUpdate(options=[PadN(6), HandoffIndicator(1)])
    data = encode(msg)
    assert data[12:20] == bytes.fromhex("0106000000000000")
    assert decode(data).options == (HandoffIndicator(1),)


def test_unknown_status_value_is_kept_as_int() -> None:
    data = encode(BindingAcknowledgement(status=1))
    status = decode(data).status
    assert status == 1 and not isinstance(status, Status)
    assert decode(encode(BindingAcknowledgement(status=153))).status is Status(153)


def test_prefix_host_bits_are_dropped_on_decode() -> None:
    data = bytearray(encode(BindingUpdate(options=[HomeNetworkPrefix("2001::/16")])))
    data[16 + 6] = 0xFF  # HNP at offset 12, prefix from 16: its 7th octet is host bits
    assert decode(bytes(data)).option(HomeNetworkPrefix).prefix == IPv6Network("2001::/16")


def test_checksum_is_computed_with_addresses_and_carried_without() -> None:
    msg = BindingUpdate(sequence=1, checksum=0xBEEF)
    assert encode(msg)[4:6] == b"\xbe\xef"
    with_sum = encode(msg, SRC, DST)
    assert decode(with_sum, SRC, DST).checksum == int.from_bytes(with_sum[4:6], "big")
    with pytest.raises(ProtocolError, match="checksum") as raised:
        decode(with_sum, SRC, "2001:db8::99")
    assert raised.value.status is Status.REASON_UNSPECIFIED


def test_checksum_needs_both_addresses() -> None:
    with pytest.raises(ValueError, match="both"):
        encode(BindingUpdate(), src=SRC)
    with pytest.raises(ValueError, match="both"):
        decode(encode(BindingUpdate()), dst=IPv6Address(DST))


def test_option_lookup_by_class() -> None:
    first, second = HomeNetworkPrefix("2001:db8:1::/64"), HomeNetworkPrefix("2001:db8:2::/64")
    msg = BindingUpdate(options=[first, HandoffIndicator(1), second])
    assert msg.option(HomeNetworkPrefix) is first
    assert msg.options_of(HomeNetworkPrefix) == [first, second]
    assert msg.option(Timestamp) is None and msg.options_of(Timestamp) == []


def test_timestamp_is_48_16_fixed_point() -> None:
    stamp = Timestamp.from_seconds(1718000000.25)
    assert stamp.value == (1718000000 << 16) | 0x4000
    assert stamp.seconds == 1718000000.25
    assert Timestamp(stamp.value).pack() == bytes.fromhex("1b08") + stamp.value.to_bytes(8, "big")


def test_protocol_error_names_its_status() -> None:
    error = ProtocolError(Status.TIMESTAMP_MISMATCH, "clock off by 2 s")
    assert error.status is Status.TIMESTAMP_MISMATCH and error.reason == "clock off by 2 s"
    assert str(error) == "clock off by 2 s (status 156 TIMESTAMP_MISMATCH)"


def test_message_too_long_for_header_length_octet_is_refused() -> None:
    options = [MobileNodeIdentifier("x" * 254)] * 9
    with pytest.raises(ValueError, match="exceeds 2048"):
        encode(BindingUpdate(options=options))


# --- RFC 6275 9.2 receiver checks, RFC 4283/8371 identifiers, Binding Error ---------


def test_a_zero_length_mn_identifier_decodes_and_encodes() -> None:
    # RFC 5213 5.3.6: what a PBA rejecting a PBU without MN-ID carries (status 160).
    data = bytes.fromhex("3b0106000000a0200007000008010100")
    pba = decode(data)
    assert pba.status == Status.MISSING_MN_IDENTIFIER_OPTION
    assert pba.option(MobileNodeIdentifier) == MobileNodeIdentifier(b"")
    assert encode(pba) == data


@pytest.mark.parametrize("subtype", [2, 3, 4, 5, 6, 7, 8, 200])
def test_every_mn_identifier_subtype_is_decoded_and_carried(subtype: int) -> None:
    option = MobileNodeIdentifier(bytes.fromhex("0011223344556677"), subtype)
    message = decode(encode(BindingUpdate(proxy=True, options=[option]), SRC, DST), SRC, DST)
    carried = message.option(MobileNodeIdentifier)
    assert carried == option and carried.key == (subtype, bytes.fromhex("0011223344556677"))
    assert carried.nai is None


def test_mn_identifier_names_its_subtype_in_text() -> None:
    assert MobileNodeIdentifier("mn1@lab").text == "mn1@lab"
    assert MobileNodeIdentifier("mn1@lab").key == (1, b"mn1@lab")
    imsi = MobileNodeIdentifier(bytes.fromhex("001010123456789f"), MnIdSubtype.IMSI)
    assert imsi.text == "imsi:001010123456789f"
    assert MobileNodeIdentifier(b"\xff", 1).text == "nai:ff"  # not UTF-8
    assert MobileNodeIdentifier(b"\x01", 99).text == "subtype99:01"


def test_a_payload_proto_other_than_59_asks_for_a_parameter_problem() -> None:
    data = bytearray(encode(BindingUpdate(proxy=True)))
    data[0] = 6
    with pytest.raises(ProtocolError) as raised:
        decode(bytes(data))
    assert (raised.value.reaction, raised.value.pointer) == (Reaction.PARAMETER_PROBLEM, 0)


def test_an_unknown_mh_type_asks_for_a_binding_error() -> None:
    with pytest.raises(ProtocolError) as raised:
        decode(bytes.fromhex("3b00c80000000000"))
    assert raised.value.reaction is Reaction.BINDING_ERROR


def test_a_bad_checksum_is_discarded_silently() -> None:
    data = bytearray(encode(BindingUpdate(proxy=True), SRC, DST))
    data[4] ^= 0xFF
    with pytest.raises(ProtocolError) as raised:
        decode(bytes(data), SRC, DST)
    assert raised.value.reaction is Reaction.DISCARD


def test_binding_error_round_trips() -> None:
    error = BindingError(status=BindingErrorStatus.UNRECOGNIZED_MH_TYPE)
    data = encode(error, SRC, DST)
    assert len(data) == 24 and data[2] == 7
    assert decode(data, SRC, DST).status == 2
    assert decode(data).home_address == IPv6Address("::")
