"""The LMA deviations of issue 14 (B1-B6, 152, RFC 8371 identifiers, symmetric heartbeats,
RFC 6275 9.2 answers), each against the RFC text it follows (docs/conformance.md)."""

from dataclasses import replace
from ipaddress import IPv6Address, IPv6Network

from pmip6d.core import (
    InstallMnRoute,
    LocalMobilityAnchor,
    LogEvent,
    RemoveMnRoute,
    SendMessage,
)
from pmip6d.core.actions import SendParameterProblem
from pmip6d.core.binding_cache import BindingState
from pmip6d.wire import (
    BindingAcknowledgement,
    BindingError,
    BindingUpdate,
    Handoff,
    Heartbeat,
    HomeNetworkPrefix,
    LinkLocalAddress,
    MnIdSubtype,
    MobileNodeIdentifier,
    ProtocolError,
    RestartCounter,
    Status,
    decode,
    encode,
)
from tests.core.core_builders import (
    LMAA,
    MAG1,
    MAG2,
    MN1,
    MN1_HNP,
    MN1_HNP_B,
    MN1_SESSION,
    POLICY,
    ROGUE_MAG,
    T0,
    TWO_PREFIXES,
    lma_config,
    of_type,
    only,
    pbu,
    without_logs,
)


def make_lma(policy=POLICY, **timers) -> LocalMobilityAnchor:
    return LocalMobilityAnchor(lma_config(**timers), policy)


def pba_of(actions) -> BindingAcknowledgement:
    (send,) = [a for a in actions if isinstance(a, SendMessage)]
    return send.message


# --- B1: 160 carries a zero-length MN-ID (RFC 5213 5.3.6) ------------------------


def test_a_pbu_without_mn_id_is_answered_with_a_zero_length_mn_id():
    pba = pba_of(make_lma().receive(MAG1, pbu(mn_id=None), T0))
    assert pba.status == Status.MISSING_MN_IDENTIFIER_OPTION
    assert pba.option(MobileNodeIdentifier) == MobileNodeIdentifier(b"")
    wire = encode(pba, LMAA, MAG1)
    assert decode(wire, LMAA, MAG1).option(MobileNodeIdentifier).identifier == b""


def test_a_zero_length_mn_id_names_no_one():
    request = replace(pbu(), options=(MobileNodeIdentifier(b""), *pbu().options[1:]))
    pba = pba_of(make_lma().receive(MAG1, request, T0))
    assert pba.status == Status.MISSING_MN_IDENTIFIER_OPTION


# --- B2 and 152: a BU without the P flag -----------------------------------------


def test_a_home_registration_is_131_not_152():
    lma = make_lma()
    pba = pba_of(lma.receive(MAG1, pbu(proxy=False), T0))
    assert pba.status == Status.HOME_REGISTRATION_NOT_SUPPORTED
    assert lma.counters["rejected.PROXY_REG_NOT_ENABLED"] == 0


def test_a_correspondent_registration_is_discarded_without_answer():
    lma = make_lma()
    request = replace(pbu(), proxy=False, home=False)
    actions = lma.receive(MAG1, request, T0)
    assert without_logs(actions) == []
    assert only(actions, LogEvent).name == "pbu_discarded"
    assert len(lma.binding_cache) == 0


# --- B2: RFC 6275 9.2 answers to what cannot be decoded ------------------------------


def error_for(data: bytes) -> ProtocolError:
    try:
        decode(data)
    except ProtocolError as error:
        return error
    raise AssertionError("decoded")


def test_an_unknown_mh_type_is_answered_with_a_binding_error_status_2():
    data = bytes.fromhex("3b00c80000000000")
    actions = make_lma().undecodable(MAG1, LMAA, data, error_for(data), T0)
    send = only(actions, SendMessage)
    assert send.dst == MAG1 and send.message == BindingError(status=2)


def test_payload_proto_other_than_59_asks_for_a_parameter_problem_at_octet_0():
    data = bytearray(encode(pbu()))
    data[0] = 6
    actions = make_lma().undecodable(MAG1, LMAA, bytes(data), error_for(bytes(data)), T0)
    problem = only(actions, SendParameterProblem)
    assert (problem.dst, problem.to, problem.pointer) == (MAG1, LMAA, 0)
    assert problem.invoking == bytes(data)


def test_a_bad_checksum_gets_no_answer():
    data = bytearray(encode(pbu(), MAG1, LMAA))
    data[4] ^= 0xFF
    try:
        decode(bytes(data), MAG1, LMAA)
    except ProtocolError as error:
        actions = make_lma().undecodable(MAG1, LMAA, bytes(data), error, T0)
    assert without_logs(actions) == []


def test_error_answers_are_rate_limited_like_icmpv6():
    lma = make_lma()
    data = bytes.fromhex("3b00c80000000000")
    error = error_for(data)
    sent = [
        of_type(lma.undecodable(ROGUE_MAG, LMAA, data, error, T0), SendMessage) for _ in range(50)
    ]
    assert sum(map(len, sent)) == 10  # the burst
    later = lma.undecodable(ROGUE_MAG, LMAA, data, error, T0 + 0.15)
    assert len(of_type(later, SendMessage)) == 1  # refilled at 10 per second
    assert lma.error_limiter.refused == 40


def test_no_error_answer_to_a_multicast_or_unspecified_source():
    data = bytes.fromhex("3b00c80000000000")
    for src in (IPv6Address("::"), IPv6Address("ff02::1")):
        assert without_logs(make_lma().undecodable(src, LMAA, data, error_for(data), T0)) == []


def test_a_binding_error_from_a_mag_is_not_answered():
    lma = make_lma()
    actions = lma.receive(MAG1, BindingError(status=1), T0)
    assert without_logs(actions) == []


def test_a_binding_error_from_a_stranger_changes_nothing():
    lma = registered_lma(heartbeat_interval=10.0)
    lma.receive(ROGUE_MAG, BindingError(status=2), T0 + 1)
    assert lma.heartbeats_refused == set() and set(lma.peers) == {MAG1}


# --- B3: a ::/0 re-registration returns what is routed -----------------------------


def test_an_all_zero_re_registration_returns_the_prefixes_the_session_has():
    lma = make_lma(TWO_PREFIXES)
    first = lma.receive(MAG1, pbu(prefixes=(MN1_HNP,), timestamp=T0 - 1), T0 - 1)
    assert only(first, InstallMnRoute).prefixes == (MN1_HNP,)
    again = lma.receive(MAG1, pbu(sequence=2, prefixes=(IPv6Network("::/0"),)), T0)
    assert pba_of(again).options_of(HomeNetworkPrefix) == [HomeNetworkPrefix(MN1_HNP)]
    assert of_type(again, InstallMnRoute) == []  # a re-registration: the route stays
    assert lma.binding_cache.get(MN1).prefixes == (MN1_HNP,)


def test_an_all_zero_first_registration_gets_every_free_prefix_of_a_single_interface_mn():
    lma = make_lma(TWO_PREFIXES)
    actions = lma.receive(MAG1, pbu(prefixes=(IPv6Network("::/0"),)), T0)
    assert only(actions, InstallMnRoute).prefixes == (MN1_HNP, MN1_HNP_B)


# --- B4: the Handoff Indicator is honoured -----------------------------------------


def test_hi_1_for_prefixes_attached_at_another_mag_does_not_take_the_session():
    lma = make_lma()
    lma.receive(MAG1, pbu(timestamp=T0 - 1), T0 - 1)
    before = [vars(e).copy() for e in lma.binding_cache]
    actions = lma.receive(MAG2, pbu(sequence=2, handoff=Handoff.NEW_INTERFACE), T0)
    assert pba_of(actions).status == Status.BCE_PBU_PREFIX_SET_DO_NOT_MATCH
    assert of_type(actions, InstallMnRoute) == []
    assert [vars(e) for e in lma.binding_cache] == before


def other_interface(handoff: Handoff) -> BindingUpdate:
    """mn1's second interface asking for ::/0."""
    return pbu(
        sequence=2,
        prefixes=(IPv6Network("::/0"),),
        handoff=handoff,
        link_layer=bytes.fromhex("020000000102"),
    )


def test_hi_1_with_all_zero_prefix_opens_a_second_session_with_its_own_prefix():
    lma = make_lma(TWO_PREFIXES)
    lma.receive(MAG1, pbu(prefixes=(MN1_HNP,), timestamp=T0 - 1), T0 - 1)
    actions = lma.receive(MAG2, other_interface(Handoff.NEW_INTERFACE), T0)
    route = only(actions, InstallMnRoute)
    assert route == InstallMnRoute(MN1, (MN1_HNP_B,), MAG2, f"{MN1}#2")
    assert {e.proxy_coa for e in lma.binding_cache} == {MAG1, MAG2}


def test_hi_2_moves_the_session_to_the_new_interface():
    lma = make_lma(TWO_PREFIXES)
    lma.receive(MAG1, pbu(prefixes=(IPv6Network("::/0"),), timestamp=T0 - 1), T0 - 1)
    actions = lma.receive(MAG2, other_interface(Handoff.DIFFERENT_INTERFACE), T0)
    assert only(actions, InstallMnRoute) == InstallMnRoute(
        MN1, (MN1_HNP, MN1_HNP_B), MAG2, MN1_SESSION
    )
    (entry,) = lma.binding_cache
    assert entry.link_layer_id == bytes.fromhex("020000000102")


def test_no_free_prefix_for_a_new_session_is_130():
    lma = make_lma()
    lma.receive(MAG1, pbu(timestamp=T0 - 1), T0 - 1)
    actions = lma.receive(MAG2, other_interface(Handoff.NEW_INTERFACE), T0)
    assert pba_of(actions).status == Status.INSUFFICIENT_RESOURCES


# --- B5: a de-registration from a non-current proxy-CoA is ignored -------------------
# (tests/core/test_lma.py::test_deregistration_from_a_mag_that_is_no_longer_current_is_ignored)


def test_the_current_mag_still_gets_its_deregistration_acknowledged():
    lma = make_lma()
    lma.receive(MAG1, pbu(timestamp=T0 - 1), T0 - 1)
    actions = lma.receive(MAG1, pbu(sequence=2, lifetime=0), T0)
    assert pba_of(actions).status == Status.ACCEPTED
    assert lma.binding_cache.get(MN1).state is BindingState.DEREGISTERED


# --- B6: an all-zero Link-local Address option is a request --------------------------


def with_link_local(request: BindingUpdate, address: str) -> BindingUpdate:
    return replace(request, options=(*request.options, LinkLocalAddress(IPv6Address(address))))


def test_an_all_zero_link_local_address_is_answered_with_an_address_not_echoed():
    lma = make_lma()
    pba = pba_of(lma.receive(MAG1, with_link_local(pbu(), "::"), T0))
    answered = pba.option(LinkLocalAddress).address
    assert answered.is_link_local and answered != IPv6Address("::")


def test_the_link_local_address_a_mag_used_is_returned_to_the_next_one_that_asks():
    lma = make_lma()
    lma.receive(MAG1, with_link_local(pbu(timestamp=T0 - 1), "fe80::1"), T0 - 1)
    pba = pba_of(lma.receive(MAG2, with_link_local(pbu(sequence=2), "::"), T0))
    assert pba.option(LinkLocalAddress) == LinkLocalAddress(IPv6Address("fe80::1"))


def test_a_generated_link_local_address_stays_with_the_session():
    lma = make_lma()
    first = pba_of(lma.receive(MAG1, with_link_local(pbu(timestamp=T0 - 1), "::"), T0 - 1))
    again = pba_of(lma.receive(MAG2, with_link_local(pbu(sequence=2), "::"), T0))
    assert again.option(LinkLocalAddress) == first.option(LinkLocalAddress)


# --- RFC 8371 identifiers --------------------------------------------------------


class ImsiProfile:
    """A profile as a policy store naming MNs by IMSI would hand it over."""

    def __init__(self, profile, imsi: bytes) -> None:
        self._profile = profile
        self.mn_id_key = (MnIdSubtype.IMSI, imsi)

    def __getattr__(self, name):
        return getattr(self._profile, name)


def test_an_mn_named_by_an_imsi_is_served_by_subtype_and_identifier():
    imsi = bytes.fromhex("001010123456789f")
    policy = replace(POLICY, mobile_nodes=(ImsiProfile(POLICY.mobile_nodes[0], imsi),))
    lma = make_lma(policy)
    option = MobileNodeIdentifier(imsi, MnIdSubtype.IMSI)
    request = replace(pbu(), options=(option, *pbu().options[1:]))
    actions = lma.receive(MAG1, request, T0)
    assert pba_of(actions).status == Status.ACCEPTED
    assert pba_of(actions).option(MobileNodeIdentifier) == option
    assert only(actions, InstallMnRoute).mn_id == "imsi:001010123456789f"
    # The same octets as an NAI are another MN.
    as_nai = replace(pbu(), options=(MobileNodeIdentifier(imsi, 1), *pbu().options[1:]))
    assert pba_of(lma.receive(MAG2, as_nai, T0)).status == Status.NOT_LMA_FOR_THIS_MOBILE_NODE


# --- RFC 5847: heartbeats from the LMA too --------------------------------------------


def registered_lma(**timers) -> LocalMobilityAnchor:
    lma = make_lma(**timers)
    lma.receive(MAG1, pbu(timestamp=T0), T0)
    return lma


def answer(request: Heartbeat, counter: int) -> Heartbeat:
    return Heartbeat(sequence=request.sequence, response=True, options=(RestartCounter(counter),))


def test_the_lma_probes_the_mags_it_has_bindings_with_and_only_those():
    lma = registered_lma(heartbeat_interval=10.0)
    assert lma.next_deadline() == T0 + 10
    (probe,) = of_type(lma.on_timer(T0 + 10), SendMessage)
    assert probe.dst == MAG1 and not probe.message.response
    lma.receive(MAG1, pbu(sequence=2, lifetime=0, timestamp=T0 + 11), T0 + 11)
    assert lma.peers == {}  # no active binding through MAG1 any more


def test_a_restarted_mag_loses_its_sessions_at_the_lma():
    lma = registered_lma(heartbeat_interval=10.0)
    probe = only(lma.on_timer(T0 + 10), SendMessage).message
    assert without_logs(lma.receive(MAG1, answer(probe, 7), T0 + 10.01)) == []
    probe = only(lma.on_timer(T0 + 20), SendMessage).message
    actions = lma.receive(MAG1, answer(probe, 8), T0 + 20.01)
    assert without_logs(actions) == [RemoveMnRoute(MN1, (MN1_HNP,), MAG1, MN1_SESSION)]
    assert only(actions, LogEvent).name == "mag_restarted"
    assert len(lma.binding_cache) == 0 and lma.counters["mag_restarts"] == 1


def test_a_mag_announcing_a_new_counter_at_start_is_noticed_at_once():
    lma = registered_lma(heartbeat_interval=10.0)
    probe = only(lma.on_timer(T0 + 10), SendMessage).message
    lma.receive(MAG1, answer(probe, 7), T0 + 10.01)
    unsolicited = Heartbeat(
        sequence=1, unsolicited=True, response=True, options=(RestartCounter(9),)
    )
    actions = lma.receive(MAG1, unsolicited, T0 + 11)
    assert of_type(actions, RemoveMnRoute)


def test_a_binding_error_2_stops_heartbeats_to_that_mag():
    lma = registered_lma(heartbeat_interval=10.0)
    lma.on_timer(T0 + 10)
    actions = lma.receive(MAG1, BindingError(status=2), T0 + 10.01)
    assert only(actions, LogEvent).name == "heartbeats_stopped"
    assert lma.peers == {} and lma.next_deadline() == T0 + 300
    lma.receive(MAG1, pbu(sequence=2, timestamp=T0 + 20), T0 + 20)
    assert lma.peers == {}  # still refused after another registration
    assert of_type(lma.on_timer(T0 + 40), SendMessage) == []


def test_an_unanswering_mag_is_reported_once():
    lma = registered_lma(heartbeat_interval=10.0, missing_heartbeats_allowed=2)
    logs = []
    for step in range(1, 5):
        logs += of_type(lma.on_timer(T0 + 10 * step), LogEvent)
    assert [log.name for log in logs] == ["mag_unreachable"]
