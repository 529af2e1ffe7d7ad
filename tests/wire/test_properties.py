"""Property tests: arbitrary valid messages round-trip; arbitrary and mutated
octets either decode or raise ProtocolError, never anything else."""

from ipaddress import IPv6Address, IPv6Network

from hypothesis import given, settings
from hypothesis import strategies as st

from pmip6d.wire import (
    MAX_LIFETIME,
    AccessTechnologyType,
    BindingAcknowledgement,
    BindingUpdate,
    HandoffIndicator,
    Heartbeat,
    HomeNetworkPrefix,
    LinkLocalAddress,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    MobilityMessage,
    ProtocolError,
    RestartCounter,
    Timestamp,
    decode,
    encode,
)

octet = st.integers(0, 255)
addresses = st.integers(0, (1 << 128) - 1).map(IPv6Address)


@st.composite
def prefixes(draw) -> IPv6Network:
    length = draw(st.integers(0, 128))
    return IPv6Network((draw(addresses), length), strict=False)


nai = st.text(min_size=1, max_size=60).filter(lambda s: 1 <= len(s.encode()) <= 254)
options = st.one_of(
    nai.map(MobileNodeIdentifier),
    prefixes().map(HomeNetworkPrefix),
    octet.map(HandoffIndicator),
    octet.map(AccessTechnologyType),
    st.binary(min_size=1, max_size=32).map(MobileNodeLinkLayerIdentifier),
    addresses.map(LinkLocalAddress),
    st.integers(0, (1 << 64) - 1).map(Timestamp),
    st.integers(0, 0xFFFFFFFF).map(RestartCounter),
)
lifetimes = st.integers(0, MAX_LIFETIME // 4).map(lambda units: units * 4)
flag = st.booleans()
common = {
    "sequence": st.integers(0, 0xFFFF),
    "lifetime": lifetimes,
    "options": st.lists(options, max_size=8),
    "checksum": st.integers(0, 0xFFFF),
}
binding_updates = st.builds(
    BindingUpdate,
    ack=flag,
    home=flag,
    link_local=flag,
    key_mgmt=flag,
    mobile_router=flag,
    router=flag,
    proxy=flag,
    **common,
)
binding_acks = st.builds(
    BindingAcknowledgement, status=octet, key_mgmt=flag, router=flag, proxy=flag, **common
)
heartbeats = st.builds(
    Heartbeat,
    sequence=st.integers(0, 0xFFFFFFFF),
    unsolicited=flag,
    response=flag,
    options=st.lists(options, max_size=8),
    checksum=st.integers(0, 0xFFFF),
)
messages = st.one_of(binding_updates, binding_acks, heartbeats)


@given(messages)
def test_valid_messages_round_trip(msg: MobilityMessage) -> None:
    data = encode(msg)
    assert len(data) % 8 == 0 and data[1] == len(data) // 8 - 1
    assert decode(data) == msg
    assert encode(decode(data)) == data


@given(messages, addresses, addresses)
def test_computed_checksum_verifies(msg: MobilityMessage, src, dst) -> None:
    data = encode(msg, src, dst)
    assert decode(data, src, dst).checksum == int.from_bytes(data[4:6], "big")


@given(messages)
def test_every_option_sits_at_its_alignment(msg: MobilityMessage) -> None:
    data = encode(msg)
    offset, seen = 12, []
    while offset < len(data):
        code = data[offset]
        if code == 0:
            offset += 1
            continue
        if code != 1:
            seen.append(code)
            option = next(o for o in msg.options if o.TYPE == code)
            n, k = option.ALIGNMENT
            assert offset % n == k
        offset += 2 + data[offset + 1]
    assert offset == len(data)
    assert seen == [o.TYPE for o in msg.options]


def decodes_or_protocol_error(data: bytes) -> None:
    try:
        decode(data)
    except ProtocolError:
        pass


@given(st.binary(max_size=300))
def test_arbitrary_octets_raise_only_protocol_error(data: bytes) -> None:
    decodes_or_protocol_error(data)


@settings(max_examples=500)
@given(st.sampled_from([5, 6, 13]), st.binary(max_size=200))
def test_framed_arbitrary_bodies_raise_only_protocol_error(mh_type: int, body: bytes) -> None:
    # A consistent header length gets past the framing checks into option parsing.
    body += bytes(-(6 + len(body)) % 8)
    data = bytes((59, (6 + len(body)) // 8 - 1, mh_type, 0, 0, 0)) + body
    decodes_or_protocol_error(data)


@settings(max_examples=500)
@given(
    messages,
    st.lists(st.tuples(st.integers(0, 10_000), octet), min_size=1, max_size=4),
    st.integers(0, 10_000),
)
def test_mutated_messages_raise_only_protocol_error(
    msg: MobilityMessage, edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(encode(msg))
    for position, value in edits:
        data[position % len(data)] = value
    decodes_or_protocol_error(bytes(data))
    decodes_or_protocol_error(bytes(data[: cut % (len(data) + 1)]))
