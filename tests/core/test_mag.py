"""MAG rules of RFC 5213 section 6 and RFC 6275 11.8 retransmission."""

import json
from ipaddress import IPv6Address, IPv6Network

import pytest

from pmip6d.core import (
    BulState,
    HandBackHeld,
    HoldForMn,
    LogEvent,
    MobileAccessGateway,
    SendMessage,
    SendRouterAdvertisement,
    SetupMnForwarding,
    TeardownMnForwarding,
)
from pmip6d.wire import (
    AccessTechnologyType,
    BindingAcknowledgement,
    BindingUpdate,
    Handoff,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    Status,
    Timestamp,
)
from tests.core.core_builders import (
    LMAA,
    MAG1,
    MN1,
    MN1_HNP,
    MN1_MAC,
    MN2_MAC,
    POLICY,
    T0,
    mag_config,
    of_type,
    only,
    without_logs,
)


def make_mag(**kwargs) -> MobileAccessGateway:
    return MobileAccessGateway(mag_config(**kwargs), POLICY)


def sent_pbu(actions) -> BindingUpdate:
    send = only(actions, SendMessage)
    assert send.dst == LMAA
    return send.message


def pba_for(
    pbu: BindingUpdate, status: Status = Status.ACCEPTED, lifetime: int | None = None
) -> BindingAcknowledgement:
    """What an LMA would answer to `pbu`."""
    return BindingAcknowledgement(
        status=status,
        sequence=pbu.sequence,
        lifetime=pbu.lifetime if lifetime is None else lifetime,
        proxy=True,
        options=(pbu.option(MobileNodeIdentifier), *pbu.options_of(HomeNetworkPrefix)),
    )


def attached(**kwargs) -> tuple[MobileAccessGateway, BindingUpdate]:
    mag = make_mag(**kwargs)
    return mag, sent_pbu(mag.mn_attached("eth2", MN1_MAC, T0))


def registered(**kwargs) -> MobileAccessGateway:
    mag, pbu = attached(**kwargs)
    mag.receive(LMAA, pba_for(pbu), T0 + 0.01)
    return mag


# --- attach and PBU contents ----------------------------------------------------


def test_attach_sends_a_pbu_with_every_mandatory_option():
    mag, pbu = attached()
    assert (pbu.ack, pbu.home, pbu.proxy) == (True, True, True)
    assert pbu.lifetime == 300
    assert pbu.option(MobileNodeIdentifier).nai == MN1
    assert pbu.options_of(HomeNetworkPrefix) == [HomeNetworkPrefix(MN1_HNP)]
    assert pbu.option(HandoffIndicator).value == Handoff.UNKNOWN
    assert pbu.option(AccessTechnologyType).value == 3
    assert pbu.option(MobileNodeLinkLayerIdentifier).link_layer_id == bytes.fromhex("020000000101")
    assert pbu.option(Timestamp) == Timestamp.from_seconds(T0)
    assert mag.binding_update_list.get(MN1).state is BulState.REGISTERING


def test_sequence_mode_pbu_has_no_timestamp():
    _, pbu = attached(use_timestamps=False)
    assert pbu.option(Timestamp) is None


def test_unknown_link_layer_address_is_ignored_and_logged():
    mag = make_mag()
    actions = mag.mn_attached("eth2", "02:00:00:00:99:99", T0)
    assert only(actions, LogEvent).name == "mn_unknown"
    assert len(mag.binding_update_list) == 0
    assert mag.counters["unknown_mn"] == 1


def test_attach_on_a_non_access_interface_is_ignored():
    mag = make_mag()
    actions = mag.mn_attached("eth0", MN1_MAC, T0)
    assert without_logs(actions) == []


def test_repeated_attach_while_registering_sends_nothing_new():
    mag, _ = attached()
    assert mag.mn_attached("eth2", MN1_MAC.upper(), T0 + 0.5) == []


# --- retransmission (RFC 6275 11.8) --------------------------------------------


def test_retransmission_schedule_doubles_caps_at_32_then_gives_up():
    mag, first = attached()
    now, gaps, sequences = T0, [], [first.sequence]
    while True:
        deadline = mag.next_deadline()
        assert deadline is not None
        gaps.append(round(deadline - now, 6))
        now = deadline
        assert without_logs(mag.on_timer(now - 0.001)) == []
        actions = mag.on_timer(now)
        if of_type(actions, SendMessage) == []:
            break
        retry = sent_pbu(actions)
        assert retry.option(Timestamp) == Timestamp.from_seconds(now)
        sequences.append(retry.sequence)

    assert gaps == [1.5, 3, 6, 12, 24, 32, 32, 32]
    assert sequences == list(range(1, 9))
    assert only(actions, LogEvent).name == "pbu_give_up"
    assert mag.binding_update_list.get(MN1).state is BulState.FAILED
    assert (mag.counters["retransmissions"], mag.counters["give_ups"]) == (7, 1)
    # The MN is still attached: a fresh registration follows at the slow rate.
    assert mag.next_deadline() == now + 32
    assert without_logs(mag.on_timer(now + 31.9)) == []
    retried = mag.on_timer(now + 32)
    assert [e.name for e in of_type(retried, LogEvent)] == ["registration_retry", "mn_attached"]
    assert of_type(retried, SetupMnForwarding)
    fresh = sent_pbu(retried)
    assert (fresh.sequence, fresh.lifetime) == (9, 300)
    assert mag.binding_update_list.get(MN1).state is BulState.REGISTERING


def test_a_rejected_registration_is_not_retried():
    mag, pbu = attached()
    mag.receive(LMAA, pba_for(pbu, Status.NOT_LMA_FOR_THIS_MOBILE_NODE), T0)
    assert mag.binding_update_list.get(MN1).state is BulState.FAILED
    assert mag.next_deadline() == mag.heartbeat.next_request_at


def test_no_retry_once_the_mn_left():
    mag, _ = attached(max_pbu_retransmissions=0)
    mag.on_timer(T0 + 1.5)  # given up
    assert mag.binding_update_list.get(MN1).state is BulState.FAILED
    mag.mn_detached("eth2", T0 + 2)
    assert len(mag.binding_update_list) == 0
    assert without_logs(mag.on_timer(T0 + 40)) == []


def test_retransmission_constants_are_configurable():
    mag, _ = attached(initial_bindack_timeout_first_reg=0.5, max_bindack_timeout=1.0)
    gaps, now = [], T0
    for _ in range(3):
        deadline = mag.next_deadline()
        gaps.append(deadline - now)
        now = deadline
        mag.on_timer(now)
    assert gaps == [0.5, 1.0, 1.0]


def test_late_pba_for_an_older_sequence_is_ignored():
    mag, first = attached()
    mag.on_timer(T0 + 1.5)  # retransmitted with sequence 2
    actions = mag.receive(LMAA, pba_for(first), T0 + 1.6)
    assert only(actions, LogEvent).name == "pba_stale"
    assert mag.binding_update_list.get(MN1).state is BulState.REGISTERING


# --- acceptance, forwarding, RAs, refresh -------------------------------------------


def test_attach_sets_up_forwarding_before_the_pbu():
    mag = make_mag()
    actions = without_logs(mag.mn_attached("eth2", MN1_MAC, T0))
    assert [type(a) for a in actions] == [SetupMnForwarding, SendMessage]
    assert actions[0] == SetupMnForwarding(MN1, (MN1_HNP,), LMAA, "eth2", MN1_MAC)


def test_acceptance_sends_an_ra():
    mag, pbu = attached()
    actions = without_logs(mag.receive(LMAA, pba_for(pbu), T0 + 0.01))
    (ra,) = actions
    assert ra == SendRouterAdvertisement(
        access_interface="eth2",
        mn_link_layer=MN1_MAC,
        source_address=IPv6Address("fe80::1"),
        source_link_layer="02:00:5e:00:53:01",
        prefixes=(MN1_HNP,),
        router_lifetime=1800,
        prefix_valid_lifetime=300,
        prefix_preferred_lifetime=300,
    )
    entry = mag.binding_update_list.get(MN1)
    assert (entry.state, entry.lifetime, entry.retransmit_at) == (BulState.REGISTERED, 300, None)


def test_prefixes_assigned_by_the_lma_replace_the_requested_ones():
    mag, pbu = attached()
    assigned = IPv6Network("2001:db8:1:77::/64")
    pba = BindingAcknowledgement(
        sequence=pbu.sequence,
        lifetime=300,
        proxy=True,
        options=(MobileNodeIdentifier(MN1), HomeNetworkPrefix(assigned)),
    )
    actions = mag.receive(LMAA, pba, T0)
    assert only(actions, TeardownMnForwarding).prefixes == (MN1_HNP,)
    assert only(actions, SetupMnForwarding).prefixes == (assigned,)


def test_router_advertisements_repeat_every_ra_interval():
    mag = registered()
    assert mag.next_deadline() == pytest.approx(T0 + 0.01 + 3)
    ra = only(mag.on_timer(T0 + 3.01), SendRouterAdvertisement)
    # One granted lifetime from each RA, not a countdown to the binding's expiry.
    assert ra.prefix_valid_lifetime == 300
    assert only(mag.on_timer(T0 + 6.01), SendRouterAdvertisement)


def test_router_solicitation_is_answered_at_once():
    mag = registered()
    actions = mag.router_solicited("eth2", MN1_MAC, T0 + 1)
    assert only(actions, SendRouterAdvertisement).mn_link_layer == MN1_MAC


def test_router_solicitation_from_a_new_mn_starts_registration():
    mag = make_mag()
    assert sent_pbu(mag.router_solicited("eth2", MN1_MAC, T0)).option(MobileNodeIdentifier)


def test_refresh_at_refresh_fraction_of_lifetime_keeps_forwarding():
    mag = registered(use_timestamps=True)
    refresh_at = T0 + 0.01 + 0.8 * 300
    entry = mag.binding_update_list.get(MN1)
    assert entry.refresh_at == pytest.approx(refresh_at)
    actions = mag.on_timer(refresh_at)
    refresh = sent_pbu(actions)
    assert refresh.option(HandoffIndicator).value == Handoff.NOT_CHANGED
    assert refresh.lifetime == 300
    assert entry.state is BulState.REFRESHING
    answer = mag.receive(LMAA, pba_for(refresh), refresh_at + 0.01)
    assert of_type(answer, SetupMnForwarding) == []
    assert entry.state is BulState.REGISTERED
    assert entry.expires_at == pytest.approx(refresh_at + 0.01 + 300)


def test_refresh_retransmits_from_initial_bindack_timeout():
    mag = registered()
    refresh_at = mag.binding_update_list.get(MN1).refresh_at
    mag.on_timer(refresh_at)
    assert mag.binding_update_list.get(MN1).retransmit_at == pytest.approx(refresh_at + 1.0)


def test_unanswered_refresh_tears_down_forwarding_when_the_binding_expires():
    mag = registered()
    entry = mag.binding_update_list.get(MN1)
    expiry, now = entry.expires_at, entry.refresh_at
    mag.on_timer(now)
    torn = []
    while now < expiry:
        now = min(mag.next_deadline(), expiry)
        torn += of_type(mag.on_timer(now), TeardownMnForwarding)
    assert torn == [TeardownMnForwarding(MN1, (MN1_HNP,), LMAA, "eth2", MN1_MAC)]
    assert entry.state is BulState.REGISTERING
    assert entry.retransmit_at is not None


# --- rejects -------------------------------------------------------------------

REJECT_STATUSES = [s for s in Status if s not in (Status.ACCEPTED,)]


@pytest.mark.parametrize("status", REJECT_STATUSES, ids=lambda s: s.name)
def test_every_reject_status_is_handled_and_logged_by_name(status):
    mag, pbu = attached()
    if status == Status.SEQUENCE_NUMBER_OUT_OF_WINDOW:
        retry = sent_pbu(mag.receive(LMAA, pba_for(pbu, status), T0))  # first one resyncs
        pbu = retry
    actions = mag.receive(LMAA, pba_for(pbu, status), T0 + 0.1)
    log = only(actions, LogEvent)
    assert log.name == "pba_rejected"
    assert log.fields["status"] == status.name
    assert log.level == "warning"
    assert mag.binding_update_list.get(MN1).state is BulState.FAILED
    assert mag.next_deadline() is None
    assert mag.counters[f"rejected.{status.name}"] == 1


def test_reject_of_a_refresh_tears_down_forwarding():
    mag = registered()
    entry = mag.binding_update_list.get(MN1)
    refresh = sent_pbu(mag.on_timer(entry.refresh_at))
    actions = mag.receive(LMAA, pba_for(refresh, Status.NOT_LMA_FOR_THIS_MOBILE_NODE), T0 + 241)
    assert of_type(actions, TeardownMnForwarding)
    assert entry.state is BulState.FAILED


def test_sequence_out_of_window_resyncs_to_the_lma_number():
    mag, pbu = attached(use_timestamps=False)
    pba = BindingAcknowledgement(
        status=Status.SEQUENCE_NUMBER_OUT_OF_WINDOW,
        sequence=500,
        proxy=True,
        options=(MobileNodeIdentifier(MN1),),
    )
    retry = sent_pbu(mag.receive(LMAA, pba, T0 + 0.1))
    assert retry.sequence == 501
    assert mag.counters["sequence_resyncs"] == 1


def test_timestamp_reject_logs_the_lma_clock_offset():
    mag, pbu = attached()
    pba = BindingAcknowledgement(
        status=Status.TIMESTAMP_MISMATCH,
        sequence=pbu.sequence,
        proxy=True,
        options=(MobileNodeIdentifier(MN1), Timestamp.from_seconds(T0 + 2.5)),
    )
    log = only(mag.receive(LMAA, pba, T0), LogEvent)
    assert log.fields["lma_clock_ahead_by"] == 2.5


@pytest.mark.parametrize(
    "src, pba",
    [
        (MAG1, BindingAcknowledgement(proxy=True, options=(MobileNodeIdentifier(MN1),))),
        (LMAA, BindingAcknowledgement(proxy=False, options=(MobileNodeIdentifier(MN1),))),
        (LMAA, BindingAcknowledgement(proxy=True)),
        (LMAA, BindingUpdate(proxy=True)),
    ],
    ids=["not from LMA", "no proxy flag", "no MN-ID", "not a PBA"],
)
def test_unusable_messages_are_ignored(src, pba):
    mag, _ = attached()
    actions = mag.receive(src, pba, T0)
    assert only(actions, LogEvent).name == "message_ignored"
    assert mag.binding_update_list.get(MN1).state is BulState.REGISTERING


# --- detach and the hold / hand-back hooks --------------------------------------------


def test_detach_tears_down_then_sends_deregistration():
    mag = registered()
    actions = without_logs(mag.mn_detached("eth2", T0 + 10))
    teardown, send = actions
    assert teardown == TeardownMnForwarding(MN1, (MN1_HNP,), LMAA, "eth2", MN1_MAC)
    assert send.message.lifetime == 0
    assert send.message.options_of(HomeNetworkPrefix) == [HomeNetworkPrefix(MN1_HNP)]
    entry = mag.binding_update_list.get(MN1)
    assert entry.state is BulState.DEREGISTERING
    assert (entry.refresh_at, entry.next_ra_at) == (None, None)
    assert entry.retransmit_at == T0 + 10 + 1.0


def test_deregistration_pba_removes_the_entry():
    mag = registered()
    dereg = sent_pbu(mag.mn_detached("eth2", T0 + 10))
    actions = mag.receive(LMAA, pba_for(dereg), T0 + 10.01)
    assert without_logs(actions) == []
    assert len(mag.binding_update_list) == 0


def test_detach_with_holding_holds_first_and_hands_back_after_the_pba():
    mag = registered(hold=True)
    actions = without_logs(mag.mn_detached("eth2", T0 + 10))
    assert [type(a) for a in actions] == [HoldForMn, TeardownMnForwarding, SendMessage]
    assert actions[0] == HoldForMn(MN1, (MN1_HNP,), "eth2")
    answer = mag.receive(LMAA, pba_for(actions[2].message), T0 + 10.01)
    assert without_logs(answer) == [HandBackHeld(MN1, (MN1_HNP,), LMAA, "eth2")]


def test_rejected_deregistration_still_hands_back():
    mag = registered(hold=True)
    dereg = sent_pbu(mag.mn_detached("eth2", T0 + 10))
    answer = mag.receive(LMAA, pba_for(dereg, Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED), T0 + 10)
    assert of_type(answer, HandBackHeld) == [HandBackHeld(MN1, (MN1_HNP,), LMAA, "eth2")]
    assert len(mag.binding_update_list) == 0


def test_an_unanswered_deregistration_hands_back_and_forgets_without_a_give_up():
    # RFC 5213 5.3.5: an LMA ignores a de-registration from a MAG that is no
    # longer current, so no answer is an expected outcome, not a failure.
    mag = registered(hold=True, max_pbu_retransmissions=1)
    mag.mn_detached("eth2", T0 + 10)
    mag.on_timer(T0 + 11)  # one retransmission
    actions = mag.on_timer(T0 + 13)
    assert of_type(actions, HandBackHeld)
    assert only(actions, LogEvent).name == "deregistration_unanswered"
    assert len(mag.binding_update_list) == 0
    assert (mag.counters["deregistrations_unanswered"], mag.counters["give_ups"]) == (1, 0)


def test_an_unanswered_deregistration_hands_back_early_at_each_retransmission():
    # The LMA may have ignored it (5.3.5: the MN registered elsewhere first), and
    # then no PBA comes for MinDelayBeforeBCEDelete: what is held goes back now,
    # and the MAG goes on holding until the de-registration is settled.
    mag = registered(hold=True)
    mag.mn_detached("eth2", T0 + 10)
    actions = without_logs(mag.on_timer(T0 + 11))  # the first retransmission
    assert [type(a) for a in actions] == [HandBackHeld, SendMessage]
    assert actions[0] == HandBackHeld(MN1, (MN1_HNP,), LMAA, "eth2", final=False)
    assert actions[1].message.lifetime == 0
    pba = pba_for(actions[1].message)
    assert without_logs(mag.receive(LMAA, pba, T0 + 11.01)) == [
        HandBackHeld(MN1, (MN1_HNP,), LMAA, "eth2")
    ]
    assert mag.counters["early_hand_backs"] == 1


def test_a_deregistration_is_not_retransmitted_past_min_delay_before_bce_delete():
    mag = registered(hold=True)  # 7 retransmissions allowed: 1+2+4+8+... s
    mag.mn_detached("eth2", T0 + 10)
    times = []
    while mag.binding_update_list.get(MN1) is not None:
        now = mag.next_deadline()
        sent = of_type(mag.on_timer(now), SendMessage)
        times.append((round(now - T0 - 10, 3), len(sent)))
    # Retransmitted at 1, 3 and 7 s; settled at 10 s (MinDelayBeforeBCEDelete).
    assert times == [(1.0, 1), (3.0, 1), (7.0, 1), (10.0, 0)]


def test_an_announced_detach_then_the_link_dropping_deregisters_once():
    mag = registered(hold=True)
    assert mag.mn_on("eth2") == MN1
    announced = mag.mn_detached("eth2", T0 + 10, trigger="announced")
    assert only(announced, LogEvent).fields["trigger"] == "announced"
    assert [type(a) for a in without_logs(announced)] == [
        HoldForMn,
        TeardownMnForwarding,
        SendMessage,
    ]
    assert mag.mn_on("eth2") is None
    # The link drops a moment later: the MN is already gone, nothing more happens.
    assert without_logs(mag.mn_detached("eth2", T0 + 10.002)) == []
    assert mag.counters["detachments"] == 1


def test_set_buffering_switches_holding():
    mag = registered()
    mag.set_buffering(True)
    assert of_type(mag.mn_detached("eth2", T0 + 10), HoldForMn)


def test_detach_of_an_empty_interface_is_harmless():
    mag = make_mag()
    assert without_logs(mag.mn_detached("eth3", T0)) == []


def test_detach_after_failure_just_forgets():
    mag, pbu = attached()
    mag.receive(LMAA, pba_for(pbu, Status.NOT_LMA_FOR_THIS_MOBILE_NODE), T0)
    assert without_logs(mag.mn_detached("eth2", T0 + 1)) == []
    assert len(mag.binding_update_list) == 0


def test_reattach_while_deregistering_hands_back_and_registers_again():
    mag = registered(hold=True)
    mag.mn_detached("eth2", T0 + 10)
    actions = mag.mn_attached("eth2", MN1_MAC, T0 + 10.5)
    assert of_type(actions, HandBackHeld)
    pbu = sent_pbu(actions)
    assert pbu.lifetime == 300
    assert mag.binding_update_list.get(MN1).state is BulState.REGISTERING


def test_another_mn_on_an_occupied_interface_deregisters_the_first():
    mag = registered()
    actions = mag.mn_attached("eth2", MN2_MAC, T0 + 5)
    pbus = [a.message for a in of_type(actions, SendMessage)]
    assert [p.lifetime for p in pbus] == [0, 300]
    assert len(mag.binding_update_list) == 2


def test_detach_after_replacement_concerns_the_new_mn_not_the_departed_one():
    mag = registered()
    mag.mn_attached("eth2", MN2_MAC, T0 + 5)
    actions = mag.mn_detached("eth2", T0 + 6)
    assert sent_pbu(actions).option(MobileNodeIdentifier).nai == "mn2@pmipv6.lab"


def test_sequence_numbers_continue_across_attachments():
    mag = registered()
    dereg = sent_pbu(mag.mn_detached("eth2", T0 + 10))
    mag.receive(LMAA, pba_for(dereg), T0 + 10.01)
    again = sent_pbu(mag.mn_attached("eth2", MN1_MAC, T0 + 20))
    assert again.sequence == dereg.sequence + 1


def test_snapshot_is_json():
    mag = registered()
    snapshot = json.loads(json.dumps(mag.snapshot(T0 + 1)))
    (entry,) = snapshot["binding_update_list"]
    assert entry["state"] == "registered"
    assert entry["forwarding"] is True
    assert snapshot["counters"]["accepted"] == 1


def test_mag_requires_mag_section():
    from tests.core.core_builders import lma_config

    with pytest.raises(ValueError):
        MobileAccessGateway(lma_config(), POLICY)
