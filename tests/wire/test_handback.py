"""The hand-back message codec."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pmip6d.wire.handback import HandBackError, pack_hand_back, unpack_hand_back

MN = "mn1@pmipv6.lab"


def test_no_packets_still_makes_one_last_chunk():
    (datagram,) = pack_hand_back(MN, [])
    message = unpack_hand_back(datagram)
    assert (message.mn_id, message.chunk, message.last, message.packets) == (MN, 0, True, ())


def test_packets_split_into_chunks_in_order_with_only_the_last_flagged():
    packets = [bytes([i]) * 500 for i in range(10)]
    datagrams = pack_hand_back(MN, packets, max_datagram=1200)
    assert all(len(d) <= 1200 for d in datagrams)
    messages = [unpack_hand_back(d) for d in datagrams]
    assert [m.chunk for m in messages] == list(range(len(messages)))
    assert [m.last for m in messages] == [False] * (len(messages) - 1) + [True]
    assert [p for m in messages for p in m.packets] == packets


def test_a_packet_too_large_for_any_datagram_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        pack_hand_back(MN, [b"x" * 2000], max_datagram=1200)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PMHB", "shorter than"),
        (b"XXXX\x01\x01\x00\x00\x00\x00\x00\x00", "bad magic"),
        (b"PMHB\x02\x01\x00\x00\x00\x00\x00\x00", "version 2"),
        (b"PMHB\x01\x01\x00\x05\x00\x00\x00\x00ab", "runs past the end"),
        (b"PMHB\x01\x01\x00\x00\x00\x00\x00\x01\x00\x09abc", "packet runs past"),
        (b"PMHB\x01\x01\x00\x00\x00\x00\x00\x00junk", "follow the last packet"),
    ],
)
def test_malformed_datagrams_raise_the_codec_error(data, message):
    with pytest.raises(HandBackError, match=message):
        unpack_hand_back(data)


@given(st.text(max_size=40), st.lists(st.binary(max_size=1500), max_size=60))
def test_round_trip(mn_id, packets):
    messages = [unpack_hand_back(d) for d in pack_hand_back(mn_id, packets, max_datagram=4000)]
    assert all(m.mn_id == mn_id for m in messages)
    assert [p for m in messages for p in m.packets] == packets


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_the_codec_error(data):
    try:
        unpack_hand_back(data)
    except HandBackError:
        pass
