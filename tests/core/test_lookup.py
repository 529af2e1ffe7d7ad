"""RFC 5213 5.4.1: which mobility session a PBU is for. The table covers every case,
each row is reached from a real binding cache, and the HI=4 wait of
MaxDelayBeforeNewBCEAssign ends both ways."""

from dataclasses import replace
from ipaddress import IPv6Network

import pytest

from pmip6d.core import InstallMnRoute, LocalMobilityAnchor, LogEvent, SendMessage
from pmip6d.core.binding_cache import BindingState
from pmip6d.core.lookup import (
    HANDOFF_VALUES,
    LOOKUP,
    Decision,
    Form,
    Found,
    Request,
    find_for_deregistration,
    look_up,
)
from pmip6d.wire import Handoff, Status
from tests.core.core_builders import (
    MAG1,
    MAG2,
    MN1,
    MN1_HNP,
    MN1_HNP_B,
    MN2_HNP,
    MULTIHOMED,
    T0,
    lma_config,
    of_type,
    pbu,
)

ZERO = IPv6Network("::/0")
LL1, LL2 = bytes.fromhex("020000000101"), bytes.fromhex("020000000102")
KEY = (1, MN1.encode())

FOUND_BY_FORM = {
    Form.BY_VALUE: {Found.NONE, Found.MATCH, Found.MATCH_ACTIVE_ELSEWHERE, Found.PARTIAL},
    Form.ALL_ZERO_WITH_LINK_LAYER: {
        Found.NONE,
        Found.MATCH,
        Found.OTHERS_ACTIVE,
        Found.OTHERS_DEREGISTERED,
    },
    Form.ALL_ZERO: {Found.NONE, Found.SAME_MAG, Found.OTHERS_ACTIVE, Found.OTHERS_DEREGISTERED},
}


def test_the_table_covers_every_form_found_and_handoff_value():
    cases = {
        (form, found, hi)
        for form, founds in FOUND_BY_FORM.items()
        for found in founds
        for hi in HANDOFF_VALUES
    }
    assert set(LOOKUP) == cases


def make_lma(policy=MULTIHOMED, **timers) -> LocalMobilityAnchor:
    return LocalMobilityAnchor(lma_config(heartbeat_interval=0.0, **timers), policy)


def request(prefixes=(), link_layer=LL1, handoff=Handoff.UNKNOWN, src=MAG1, att=3) -> Request:
    return Request(src, KEY, tuple(prefixes), att, link_layer, handoff)


def with_session(lma, src=MAG1, prefixes=(MN1_HNP,), link_layer=LL1, deregistered=False):
    lma.receive(src, pbu(prefixes=prefixes, link_layer=link_layer, timestamp=T0 - 5), T0 - 5)
    if deregistered:
        dereg = pbu(
            sequence=2, lifetime=0, prefixes=prefixes, link_layer=link_layer, timestamp=T0 - 4
        )
        lma.receive(src, dereg, T0 - 4)
    return lma


# Every (form, found) pair, built for real: the LMA's state and the request.
SCENARIOS = {
    (Form.BY_VALUE, Found.NONE): (lambda: make_lma(), request((MN1_HNP,))),
    (Form.BY_VALUE, Found.MATCH): (lambda: with_session(make_lma()), request((MN1_HNP,))),
    (Form.BY_VALUE, Found.MATCH_ACTIVE_ELSEWHERE): (
        lambda: with_session(make_lma()),
        request((MN1_HNP,), src=MAG2),
    ),
    (Form.BY_VALUE, Found.PARTIAL): (
        lambda: with_session(make_lma()),
        request((MN1_HNP, MN1_HNP_B)),
    ),
    (Form.ALL_ZERO_WITH_LINK_LAYER, Found.NONE): (lambda: make_lma(), request()),
    (Form.ALL_ZERO_WITH_LINK_LAYER, Found.MATCH): (
        lambda: with_session(make_lma()),
        request(src=MAG2),
    ),
    (Form.ALL_ZERO_WITH_LINK_LAYER, Found.OTHERS_ACTIVE): (
        lambda: with_session(make_lma()),
        request(link_layer=LL2, src=MAG2),
    ),
    (Form.ALL_ZERO_WITH_LINK_LAYER, Found.OTHERS_DEREGISTERED): (
        lambda: with_session(make_lma(), deregistered=True),
        request(link_layer=LL2, src=MAG2),
    ),
    (Form.ALL_ZERO, Found.NONE): (lambda: make_lma(), request(link_layer=None)),
    (Form.ALL_ZERO, Found.SAME_MAG): (
        lambda: with_session(make_lma()),
        request(link_layer=None),
    ),
    (Form.ALL_ZERO, Found.OTHERS_ACTIVE): (
        lambda: with_session(make_lma()),
        request(link_layer=None, src=MAG2),
    ),
    (Form.ALL_ZERO, Found.OTHERS_DEREGISTERED): (
        lambda: with_session(make_lma(), deregistered=True),
        request(link_layer=None, src=MAG2),
    ),
}


@pytest.mark.parametrize(
    "key", sorted(LOOKUP, key=str), ids=lambda k: f"{k[0].value}-{k[1].value}-HI{k[2]}"
)
def test_every_row_is_reached_from_a_real_binding_cache(key):
    form, found, hi = key
    build, base = SCENARIOS[(form, found)]
    lma = build()
    lookup = look_up(replace(base, handoff=hi), lma.binding_cache)
    assert (lookup.form, lookup.found, lookup.handoff) == key
    assert lookup.decision is LOOKUP[key]
    if lookup.decision in (Decision.SAME, Decision.TAKE_OVER):
        assert lookup.entry is not None
    else:
        assert lookup.entry is None


@pytest.mark.parametrize("hi", [0, 6, 255])
def test_reserved_handoff_values_read_as_unknown(hi):
    lma = with_session(make_lma())
    lookup = look_up(request(link_layer=LL2, src=MAG2, handoff=hi), lma.binding_cache)
    assert lookup.handoff == Handoff.UNKNOWN and lookup.decision is Decision.WAIT


def test_a_handoff_with_two_candidate_sessions_and_no_telling_opens_a_new_one():
    lma = with_session(make_lma())
    second = pbu(prefixes=(ZERO,), link_layer=LL2, handoff=Handoff.NEW_INTERFACE, sequence=3)
    lma.receive(MAG2, second, T0)
    third = request(link_layer=bytes.fromhex("020000000103"), handoff=Handoff.NOT_CHANGED)
    assert look_up(third, lma.binding_cache).decision is Decision.NEW


def test_deregistration_lookup_finds_the_session_or_none():
    lma = with_session(make_lma())
    cache = lma.binding_cache
    assert find_for_deregistration(request((MN1_HNP,)), cache).decision is Decision.SAME
    assert find_for_deregistration(request(), cache).decision is Decision.SAME
    assert find_for_deregistration(request(link_layer=None), cache).decision is Decision.SAME
    assert find_for_deregistration(request((MN1_HNP, MN1_HNP_B)), cache).decision is (
        Decision.REJECT
    )
    assert find_for_deregistration(request((MN2_HNP,)), cache).decision is Decision.NEW
    assert find_for_deregistration(request(), make_lma().binding_cache).entry is None


# --- the HI=4 wait (MaxDelayBeforeNewBCEAssign) in the LMA -----------------------------


def second_interface(sequence=3, now=T0):
    return pbu(sequence=sequence, prefixes=(ZERO,), link_layer=LL2, timestamp=now)


def test_hi_4_for_another_interface_waits_then_opens_a_new_session():
    lma = with_session(make_lma())
    actions = lma.receive(MAG2, second_interface(), T0)
    assert of_type(actions, SendMessage) == []  # no answer yet
    assert [a.name for a in of_type(actions, LogEvent)] == ["pbu_waiting"]
    assert lma.next_deadline() == T0 + 1.5
    assert lma.on_timer(T0 + 1.49) == []
    later = lma.on_timer(T0 + 1.5)
    route = only_route(later)
    assert (route.prefixes, route.mag_address, route.session) == ((MN1_HNP_B,), MAG2, f"{MN1}#2")
    (send,) = of_type(later, SendMessage)
    assert send.dst == MAG2 and send.message.status == Status.ACCEPTED
    assert send.message.sequence == 3
    assert len(lma.binding_cache) == 2


def test_hi_4_waiting_ends_in_a_handoff_when_the_other_session_deregisters():
    lma = with_session(make_lma(), prefixes=(ZERO,))
    (first,) = lma.binding_cache
    lma.receive(MAG2, second_interface(), T0)
    dereg = pbu(sequence=2, lifetime=0, prefixes=first.prefixes, timestamp=T0 + 0.5)
    actions = lma.receive(MAG1, dereg, T0 + 0.5)
    sends = of_type(actions, SendMessage)
    assert [(s.dst, s.message.sequence, s.message.lifetime) for s in sends] == [
        (MAG1, 2, 0),
        (MAG2, 3, 300),
    ]
    route = only_route(actions)
    assert (route.prefixes, route.mag_address, route.session) == (first.prefixes, MAG2, f"{MN1}#1")
    (entry,) = lma.binding_cache
    assert (entry.state, entry.link_layer_id) == (BindingState.ACTIVE, LL2)
    assert lma.pending == {} and lma.counters["waits_ended_handoff"] == 1


def test_a_retransmission_while_waiting_replaces_the_pbu_not_the_deadline():
    lma = with_session(make_lma())
    lma.receive(MAG2, second_interface(sequence=3, now=T0), T0)
    lma.receive(MAG2, second_interface(sequence=4, now=T0 + 1), T0 + 1)
    assert lma.next_deadline() == T0 + 1.5
    (send,) = of_type(lma.on_timer(T0 + 1.5), SendMessage)
    assert send.message.sequence == 4


def test_max_delay_before_new_bce_assign_is_configurable():
    lma = with_session(make_lma(max_delay_before_new_bce_assign=0.2))
    lma.receive(MAG2, second_interface(), T0)
    assert lma.next_deadline() == T0 + 0.2


def only_route(actions) -> InstallMnRoute:
    (route,) = of_type(actions, InstallMnRoute)
    return route


# --- found by the multihomed property test ------------------------------------------


def test_a_deregistration_naming_an_interface_without_session_ends_no_other():
    lma = with_session(make_lma(), prefixes=(ZERO,))
    other = pbu(sequence=3, lifetime=0, prefixes=(ZERO,), link_layer=LL2, timestamp=T0)
    actions = lma.receive(MAG1, other, T0)
    assert (only_send(actions).status, only_send(actions).lifetime) == (Status.ACCEPTED, 0)
    (entry,) = lma.binding_cache
    assert entry.state is BindingState.ACTIVE


def test_a_deregistration_withdraws_its_own_waiting_registration():
    lma = with_session(make_lma())
    lma.receive(MAG2, second_interface(), T0)
    gone = pbu(sequence=4, lifetime=0, prefixes=(ZERO,), link_layer=LL2, timestamp=T0 + 0.5)
    lma.receive(MAG2, gone, T0 + 0.5)
    assert lma.pending == {} and lma.counters["waits_withdrawn"] == 1
    assert of_type(lma.on_timer(T0 + 1.5), SendMessage) == []
    assert len(lma.binding_cache) == 1


def test_a_handoff_ending_a_wait_releases_the_buffer_its_deregistration_started():
    lma = with_session(make_lma(buffering=True), prefixes=(ZERO,))
    (first,) = lma.binding_cache
    lma.receive(MAG2, second_interface(), T0)
    dereg = pbu(sequence=2, lifetime=0, prefixes=first.prefixes, timestamp=T0 + 0.5)
    actions = lma.receive(MAG1, dereg, T0 + 0.5)
    kinds = [type(a).__name__ for a in actions if not isinstance(a, LogEvent)]
    assert kinds == [
        "StartBuffering",
        "SendMessage",
        "RemoveMnRoute",
        "InstallMnRoute",
        "ReleaseBuffer",
        "SendMessage",
    ]
    (entry,) = lma.binding_cache
    assert entry.buffering is False


def only_send(actions):
    (send,) = of_type(actions, SendMessage)
    return send.message
