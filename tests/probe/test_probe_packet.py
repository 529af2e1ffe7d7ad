import pytest

from pmip6d.probe.packet import (
    HEADER_SIZE,
    MAX_SIZE,
    MalformedDatagram,
    ProbeHeader,
    decode,
    encode,
    make_buffer,
)


def test_roundtrip_keeps_run_id_sequence_and_send_time():
    data = encode(run_id=0xDEADBEEF, seq=2**64 - 1, send_ns=1_700_000_000_123_456_789, size=100)
    assert len(data) == 100
    assert decode(data) == ProbeHeader(0xDEADBEEF, 2**64 - 1, 1_700_000_000_123_456_789)


def test_header_is_28_octets_and_padding_is_zero():
    data = encode(run_id=1, seq=2, send_ns=3, size=64)
    assert HEADER_SIZE == 28
    assert data[:4] == b"PMP6"
    assert data[4] == 1
    assert data[HEADER_SIZE:] == bytes(64 - HEADER_SIZE)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"PMP6", "shorter"),
        (b"XXXX" + bytes(40), "magic"),
        (b"PMP6\x02" + bytes(40), "version"),
    ],
)
def test_decode_rejects_what_is_not_a_probe_datagram(data, reason):
    with pytest.raises(MalformedDatagram, match=reason):
        decode(data)


@pytest.mark.parametrize("size", [HEADER_SIZE - 1, MAX_SIZE + 1, 0])
def test_buffer_size_outside_header_and_udp_limits_is_refused(size):
    with pytest.raises(ValueError, match="datagram size"):
        make_buffer(size)
