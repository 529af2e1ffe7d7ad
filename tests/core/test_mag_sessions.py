"""The MAG's binding update list as a table (issue 13 item 3), one entry per MN and
access interface (RFC 5213 5.4 multihoming), and the MAG side of issue 14."""

from ipaddress import IPv6Address

import pytest

from pmip6d.core import (
    BulState,
    InstallMnRoute,
    LocalMobilityAnchor,
    LogEvent,
    MobileAccessGateway,
    SendMessage,
    SendRouterAdvertisement,
    SetupMnForwarding,
    TeardownMnForwarding,
)
from pmip6d.core.binding_update_list import (
    GONE,
    IGNORED,
    TRANSITIONS,
    BindingUpdateListEntry,
    BulEvent,
    IllegalTransition,
)
from pmip6d.wire import (
    BindingAcknowledgement,
    BindingError,
    HandoffIndicator,
    Heartbeat,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    RestartCounter,
    Status,
)
from tests.core.core_builders import (
    LMAA,
    MAG1,
    MAG2,
    MN1,
    MN1_HNP,
    MN1_HNP_B,
    MN1_MAC,
    MN1_MAC_B,
    MULTIHOMED,
    POLICY,
    T0,
    lma_config,
    mag_config,
    of_type,
    only,
    without_logs,
)
from tests.core.domain import InMemoryDomain


def make_mag(policy=POLICY, **kwargs) -> MobileAccessGateway:
    return MobileAccessGateway(mag_config(**kwargs), policy)


def sent(actions) -> list:
    return [a.message for a in of_type(actions, SendMessage)]


def answer(pbu, status=Status.ACCEPTED, prefixes=None) -> BindingAcknowledgement:
    hnps = (
        [HomeNetworkPrefix(p) for p in prefixes] if prefixes else pbu.options_of(HomeNetworkPrefix)
    )
    return BindingAcknowledgement(
        status=status,
        sequence=pbu.sequence,
        lifetime=pbu.lifetime if status == Status.ACCEPTED else 0,
        proxy=True,
        options=(pbu.option(MobileNodeIdentifier), *hnps),
    )


# --- the table ------------------------------------------------------------------


def test_every_state_and_event_is_either_a_step_or_ignored_with_a_reason():
    states = (None, *BulState)
    pairs = {(s, e) for s in states for e in BulEvent}
    assert set(TRANSITIONS) | set(IGNORED) == pairs
    assert not set(TRANSITIONS) & set(IGNORED)
    assert all(reason for reason in IGNORED.values())


def test_a_step_outside_the_table_is_refused():
    entry = BindingUpdateListEntry(MN1, "eth2", MN1_MAC, (MN1_HNP,), BulState.REGISTERED, 1)
    with pytest.raises(IllegalTransition):
        entry.enter(BulEvent.ACCEPTED)
    assert entry.state is BulState.REGISTERED
    assert entry.enter(BulEvent.DETACH) is BulState.DEREGISTERING
    assert entry.enter(BulEvent.ACCEPTED) is GONE


def test_the_mag_sets_states_only_through_the_table():
    import inspect

    import pmip6d.core.mag as mag_module

    assert ".state =" not in inspect.getsource(mag_module)


# --- B7: early forwarding, undone by a rejection or a give-up -----------------------


def test_a_rejection_undoes_the_forwarding_set_up_before_the_pbu():
    mag = make_mag()
    attach = mag.mn_attached("eth2", MN1_MAC, T0)
    setup = only(attach, SetupMnForwarding)
    (pbu,) = sent(attach)
    actions = mag.receive(LMAA, answer(pbu, Status.NOT_LMA_FOR_THIS_MOBILE_NODE), T0 + 0.01)
    teardown = only(actions, TeardownMnForwarding)
    assert (teardown.prefixes, teardown.access_interface) == (
        setup.prefixes,
        setup.access_interface,
    )
    assert of_type(actions, SendRouterAdvertisement) == []
    assert mag.binding_update_list.get(MN1).forwarding is False


def test_a_given_up_registration_undoes_it_too():
    mag = make_mag(max_pbu_retransmissions=0)
    mag.mn_attached("eth2", MN1_MAC, T0)
    actions = mag.on_timer(T0 + 1.5)
    assert only(actions, TeardownMnForwarding).prefixes == (MN1_HNP,)


# --- B1 on the MAG: a 160 PBA with a zero-length MN-ID is accepted -------------------


def test_a_pba_with_a_zero_length_mn_id_is_matched_by_sequence():
    mag = make_mag()
    (pbu,) = sent(mag.mn_attached("eth2", MN1_MAC, T0))
    pba = BindingAcknowledgement(
        status=Status.MISSING_MN_IDENTIFIER_OPTION,
        sequence=pbu.sequence,
        proxy=True,
        options=(MobileNodeIdentifier(b""),),
    )
    actions = mag.receive(LMAA, pba, T0 + 0.01)
    assert only(actions, LogEvent).fields["status"] == "MISSING_MN_IDENTIFIER_OPTION"
    assert mag.binding_update_list.get(MN1).state is BulState.FAILED


# --- multihoming: one entry per MN and interface ---------------------------------------


def test_a_multihomed_mn_registers_each_interface_with_all_zero_prefixes():
    mag = make_mag(MULTIHOMED)
    first = mag.mn_attached("eth2", MN1_MAC, T0)
    second = mag.mn_attached("eth3", MN1_MAC_B, T0)
    pbus = sent(first) + sent(second)
    assert [p.options_of(HomeNetworkPrefix) for p in pbus] == [[HomeNetworkPrefix("::/0")]] * 2
    # The prefixes are the LMA's to assign: no forwarding before the answer.
    assert of_type(first + second, SetupMnForwarding) == []
    assert len(mag.binding_update_list) == 2
    actions = mag.receive(LMAA, answer(pbus[1], prefixes=[MN1_HNP_B]), T0 + 0.01)
    assert only(actions, SetupMnForwarding).prefixes == (MN1_HNP_B,)
    assert only(actions, SetupMnForwarding).access_interface == "eth3"
    assert mag.binding_update_list.get(MN1, "eth2").state is BulState.REGISTERING
    refresh_at = mag.binding_update_list.get(MN1, "eth3").refresh_at
    (refresh,) = [
        p for p in sent(mag.on_timer(refresh_at)) if p.option(HandoffIndicator).value == 5
    ]
    assert refresh.options_of(HomeNetworkPrefix) == [HomeNetworkPrefix(MN1_HNP_B)]


def test_a_single_interface_mn_moving_between_links_of_one_mag_is_one_entry():
    mag = make_mag()
    (pbu,) = sent(mag.mn_attached("eth2", MN1_MAC, T0))
    mag.receive(LMAA, answer(pbu), T0 + 0.01)
    actions = mag.mn_attached("eth3", MN1_MAC, T0 + 1)
    assert only(actions, TeardownMnForwarding).access_interface == "eth2"
    assert [e.access_interface for e in mag.binding_update_list] == ["eth3"]
    assert [p.lifetime for p in sent(actions)] == [300]  # no de-registration: same MAG


def test_two_sessions_of_one_mn_across_two_mags_and_a_handover_of_one():
    domain = InMemoryDomain.build([MAG1, MAG2], heartbeat_interval=0.0)
    domain.lma = LocalMobilityAnchor(lma_config(heartbeat_interval=0.0), MULTIHOMED)
    for address in (MAG1, MAG2):
        domain.mags[address] = MobileAccessGateway(
            mag_config(address, heartbeat_interval=0.0), MULTIHOMED
        )
    mag1, mag2 = domain.mags[MAG1], domain.mags[MAG2]
    domain.deliver(MAG1, mag1.mn_attached("eth2", MN1_MAC, T0), T0)
    domain.deliver(MAG2, mag2.mn_attached("eth2", MN1_MAC_B, T0 + 1), T0 + 1)
    # The second interface's HI=4 waits MaxDelayBeforeNewBCEAssign for a
    # de-registration that does not come, then gets a session of its own.
    domain.run_until(T0 + 2.6)
    sessions = {e.session: (e.proxy_coa, e.prefixes) for e in domain.lma.binding_cache}
    assert sessions == {1: (MAG1, (MN1_HNP,)), 2: (MAG2, (MN1_HNP_B,))}
    assert mag2.binding_update_list.get(MN1).prefixes == (MN1_HNP_B,)
    # Interface A moves from MAG1 to MAG2: its session follows, B's stays.
    domain.log.clear()
    domain.deliver(MAG1, mag1.mn_detached("eth2", T0 + 10), T0 + 10)
    domain.deliver(MAG2, mag2.mn_attached("eth3", MN1_MAC, T0 + 10.5), T0 + 10.5)
    sessions = {e.session: (e.proxy_coa, e.prefixes) for e in domain.lma.binding_cache}
    assert sessions == {1: (MAG2, (MN1_HNP,)), 2: (MAG2, (MN1_HNP_B,))}
    routes = of_type(domain.log, InstallMnRoute)
    assert [(r.session, r.mag_address) for r in routes] == [(f"{MN1}#1", MAG2)]
    assert sorted(e.access_interface for e in mag2.binding_update_list) == ["eth2", "eth3"]


# --- RA destination (RFC 5213 6.7) ---------------------------------------------------


def test_router_advertisements_go_to_the_mn_link_local_once_an_rs_told_it():
    mag = make_mag()
    (pbu,) = sent(mag.mn_attached("eth2", MN1_MAC, T0))
    ra = only(mag.receive(LMAA, answer(pbu), T0 + 0.01), SendRouterAdvertisement)
    assert ra.destination == IPv6Address("ff02::1") and ra.mn_link_layer == MN1_MAC
    rs = mag.router_solicited("eth2", MN1_MAC, T0 + 1, source=IPv6Address("fe80::200:ff:fe00:101"))
    assert only(rs, SendRouterAdvertisement).destination == IPv6Address("fe80::200:ff:fe00:101")
    unspecified = mag.router_solicited("eth2", MN1_MAC, T0 + 2, source=IPv6Address("::"))
    assert only(unspecified, SendRouterAdvertisement).destination == IPv6Address(
        "fe80::200:ff:fe00:101"
    )


# --- heartbeats on the MAG side ---------------------------------------------------------


def test_the_mag_announces_its_restart_counter_at_start():
    mag = MobileAccessGateway(mag_config(), POLICY, restart_counter=42)
    request, announcement = sent(mag.start(T0))
    assert not request.response
    assert announcement.unsolicited and announcement.option(RestartCounter).value == 42


def test_a_binding_error_2_from_the_lma_stops_heartbeats():
    mag = make_mag(heartbeat_interval=10.0)
    mag.start(T0)
    actions = mag.receive(LMAA, BindingError(status=2), T0 + 0.01)
    assert only(actions, LogEvent).name == "heartbeats_stopped"
    assert mag.next_deadline() is None
    assert without_logs(mag.on_timer(T0 + 100)) == []
    assert mag.receive(LMAA, BindingError(status=2), T0 + 1) == []
    # Requests from the LMA are still answered.
    assert sent(mag.receive(LMAA, Heartbeat(sequence=5), T0 + 2))[0].response


def test_a_binding_error_from_another_node_is_ignored():
    mag = make_mag(heartbeat_interval=10.0)
    mag.start(T0)
    actions = mag.receive(MAG2, BindingError(status=2), T0)
    assert only(actions, LogEvent).name == "message_ignored"
    assert mag.next_deadline() == T0 + 10
