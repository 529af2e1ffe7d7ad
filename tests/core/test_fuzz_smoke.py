"""A short run of the fuzzer (pmipv6_lab.fuzz, behind bench/fuzz.py): mutated PBUs
and PBAs never crash the codec or the state machines, and a rejected PBU never
changes the LMA's binding cache."""

from ipaddress import IPv6Network

import pytest

import pmipv6_lab.fuzz
from pmip6d.core import LocalMobilityAnchor, SendMessage
from pmip6d.core.prefixes import MAX_PREFIXES_PER_MESSAGE
from pmip6d.wire import (
    AccessTechnologyType,
    BindingUpdate,
    Handoff,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    Status,
    Timestamp,
    decode,
    encode,
)
from tests.core.core_builders import LMAA, MAG1, MN1, POLICY, T0, lma_config


@pytest.fixture(scope="module")
def fuzz():
    return pmipv6_lab.fuzz


@pytest.mark.parametrize("seed", [1, 2])
def test_two_thousand_mutated_inputs_do_not_crash(fuzz, seed):
    result = fuzz.run(2000, seed)
    assert result["crashes"] == 0, result["first_crash"]
    assert result["invariant_violations"] == 0, result["first_invariant_violation"]
    # The run reached the interesting paths, not only the decoder's first checks.
    assert result["decoded"] > 500
    assert sum(result["decode_rejected"].values()) > 500
    for lma in ("lma_timestamps", "lma_sequence"):
        answered = result[lma]["answered"]
        assert answered.get("ACCEPTED", 0) > 0
        assert len(answered) >= 6, answered
    assert result["mag"].get("registered", 0) > 0
    # Heartbeats too (RFC 5847): the LMA answers requests, the MAG learns counters.
    assert result["lma_timestamps"]["answered"].get("heartbeat_response", 0) > 0
    assert result["mag"].get("sent_Heartbeat", 0) > 0


def test_the_run_is_deterministic_for_a_seed(fuzz):
    first, second = fuzz.run(300, 7), fuzz.run(300, 7)
    for result in (first, second):
        result.pop("seconds")
        result.pop("inputs_per_s")
    assert first == second


def test_a_crash_is_counted_and_fails_the_run(fuzz, monkeypatch):
    """The harness itself: an exception from a state machine is a crash, exit 1."""

    def explode(self, src, message, now):
        raise RuntimeError("boom")

    monkeypatch.setattr(fuzz.LocalMobilityAnchor, "receive", explode)
    result = fuzz.run(200, 1)
    assert result["crashes"] > 0
    assert "boom" in result["first_crash"]["error"]
    assert fuzz.main(["--count", "50", "--seed", "1"]) == 1


def unpadded_pbu(prefixes: list[IPv6Network]) -> bytes:
    """A PBU whose HNP options come without their 8n+4 alignment padding, as a
    careless sender may send it; receivers accept it (RFC 6275 does not make
    them check alignment)."""
    options = MobileNodeIdentifier(MN1).pack()
    options += HandoffIndicator(Handoff.UNKNOWN).pack() + AccessTechnologyType(3).pack()
    options += Timestamp.from_seconds(T0).pack()
    options += b"".join(HomeNetworkPrefix(p).pack() for p in prefixes)
    fixed = BindingUpdate(sequence=1, lifetime=300, ack=True, proxy=True).pack_fixed()
    data = bytearray(bytes((59, 0, 5, 0, 0, 0)) + fixed + options)
    return bytes(pmipv6_lab.fuzz.reframe(data))


def test_an_unpadded_pbu_with_many_prefixes_decodes():
    wire = unpadded_pbu([IPv6Network(f"2001:db8:2:{n:x}::/64") for n in range(95)])
    assert len(wire) <= 2048
    assert len(decode(wire).options_of(HomeNetworkPrefix)) == 95


def test_the_lma_can_encode_its_answer_to_a_pbu_with_many_prefixes():
    lma = LocalMobilityAnchor(lma_config(), POLICY)
    wire = unpadded_pbu([IPv6Network(f"2001:db8:2:{n:x}::/64") for n in range(95)])
    (reply,) = [a for a in lma.receive(MAG1, decode(wire), T0) if isinstance(a, SendMessage)]
    assert reply.message.status == Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX
    # Found by bench/fuzz.py: echoing all 95 prefixes made a PBA too large to encode.
    assert len(reply.message.options_of(HomeNetworkPrefix)) == MAX_PREFIXES_PER_MESSAGE
    encode(reply.message, LMAA, MAG1)
