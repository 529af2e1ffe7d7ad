"""LMA rules of RFC 5213 section 5, one test per rule."""

import copy
import json
from ipaddress import IPv6Network

import pytest

from pmip6d.core import (
    BindingState,
    DiscardBuffer,
    InstallMnRoute,
    LocalMobilityAnchor,
    LogEvent,
    ReleaseBuffer,
    RemoveMnRoute,
    SendMessage,
    StartBuffering,
)
from pmip6d.core.lma import TRANSITIONS
from pmip6d.wire import (
    AccessTechnologyType,
    BindingAcknowledgement,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    Status,
    Timestamp,
    decode,
    encode,
)
from tests.core.core_builders import (
    LMAA,
    MAG1,
    MAG2,
    MN1,
    MN1_HNP,
    MN1_SESSION,
    MN2_HNP,
    POLICY,
    ROGUE_MAG,
    T0,
    lma_config,
    of_type,
    only,
    pbu,
    without_logs,
)


def make_lma(**kwargs) -> LocalMobilityAnchor:
    return LocalMobilityAnchor(lma_config(**kwargs), POLICY)


def pba_of(actions) -> BindingAcknowledgement:
    return only(actions, SendMessage).message


REGISTERED_AT = T0 - 1  # so that later PBUs stamped T0 are newer


def registered(**kwargs) -> LocalMobilityAnchor:
    lma = make_lma(**kwargs)
    lma.receive(MAG1, pbu(sequence=10, timestamp=REGISTERED_AT), REGISTERED_AT)
    return lma


def cache_state(lma: LocalMobilityAnchor) -> list:
    return [copy.deepcopy(vars(e)) for e in lma.binding_cache]


# --- registration ----------------------------------------------------------


def test_registration_creates_entry_and_route_and_sends_accepting_pba():
    lma = make_lma()
    actions = lma.receive(MAG1, pbu(sequence=10), T0)

    route, send, log = actions
    assert send.dst == MAG1
    assert send.message.status == Status.ACCEPTED
    assert route == InstallMnRoute(MN1, (MN1_HNP,), MAG1, MN1_SESSION)
    assert log.name == "pbu_accepted" and log.fields["transition"] == "registration"
    entry = lma.binding_cache.get(MN1)
    assert entry.state is BindingState.ACTIVE
    assert (entry.proxy_coa, entry.prefixes, entry.lifetime) == (MAG1, (MN1_HNP,), 300)
    assert entry.expires_at == T0 + 300
    assert entry.last_sequence == 10


def test_pba_echoes_what_rfc_5213_requires():
    lma = make_lma()
    request = pbu(sequence=10)
    pba = pba_of(lma.receive(MAG1, request, T0))

    assert pba.proxy is True
    assert pba.sequence == 10
    assert pba.lifetime == 300
    for cls in (
        MobileNodeIdentifier,
        HomeNetworkPrefix,
        HandoffIndicator,
        AccessTechnologyType,
        MobileNodeLinkLayerIdentifier,
        Timestamp,
    ):
        assert pba.option(cls) == request.option(cls), cls.__name__


def test_pba_survives_the_wire_codec():
    lma = make_lma()
    pba = pba_of(lma.receive(MAG1, pbu(), T0))
    decoded = decode(encode(pba, src=LMAA, dst=MAG1), src=LMAA, dst=MAG1)
    assert decoded.options_of(HomeNetworkPrefix) == pba.options_of(HomeNetworkPrefix)
    assert (decoded.status, decoded.lifetime, decoded.proxy) == (Status.ACCEPTED, 300, True)


def test_granted_lifetime_is_capped_by_max_binding_lifetime():
    lma = make_lma()
    pba = pba_of(lma.receive(MAG1, pbu(lifetime=7200), T0))
    assert pba.lifetime == 3600
    assert lma.binding_cache.get(MN1).expires_at == T0 + 3600


def test_all_zero_prefix_asks_the_lma_to_assign_the_policy_prefixes():
    lma = make_lma()
    actions = lma.receive(MAG1, pbu(prefixes=(IPv6Network("::/0"),)), T0)
    assert pba_of(actions).options_of(HomeNetworkPrefix) == [HomeNetworkPrefix(MN1_HNP)]
    assert only(actions, InstallMnRoute).prefixes == (MN1_HNP,)


def test_re_registration_refreshes_lifetime_without_touching_routes():
    lma = registered()
    actions = lma.receive(MAG1, pbu(sequence=11, timestamp=T0 + 100), T0 + 100)
    assert pba_of(actions).status == Status.ACCEPTED
    assert of_type(actions, InstallMnRoute) == []
    assert lma.binding_cache.get(MN1).expires_at == T0 + 400


# --- rejects: every check of RFC 5213 5.3.1 --------------------------------

REJECTS = [
    ("missing MN-ID", MAG1, {"mn_id": None}, Status.MISSING_MN_IDENTIFIER_OPTION),
    ("no proxy flag", MAG1, {"proxy": False}, Status.HOME_REGISTRATION_NOT_SUPPORTED),
    ("unauthorized MAG", ROGUE_MAG, {}, Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG),
    ("unknown MN", MAG1, {"mn_id": "stranger@lab"}, Status.NOT_LMA_FOR_THIS_MOBILE_NODE),
    ("no timestamp", MAG1, {"timestamp": None}, Status.TIMESTAMP_MISMATCH),
    ("timestamp too old", MAG1, {"timestamp": T0 - 0.31}, Status.TIMESTAMP_MISMATCH),
    ("timestamp ahead", MAG1, {"timestamp": T0 + 0.31}, Status.TIMESTAMP_MISMATCH),
    ("missing HNP", MAG1, {"prefixes": None}, Status.MISSING_HOME_NETWORK_PREFIX_OPTION),
    ("missing HI", MAG1, {"handoff": None}, Status.MISSING_HANDOFF_INDICATOR_OPTION),
    ("missing ATT", MAG1, {"att": None}, Status.MISSING_ACCESS_TECH_TYPE_OPTION),
    (
        "someone else's prefix",
        MAG1,
        {"prefixes": (MN2_HNP,)},
        Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
    ),
]


@pytest.mark.parametrize("why, src, change, status", REJECTS, ids=[r[0] for r in REJECTS])
def test_reject_status_for_new_mn(why, src, change, status):
    lma = make_lma()
    actions = lma.receive(src, pbu(**change), T0)

    pba = pba_of(actions)
    assert pba.status == status
    assert (pba.lifetime, pba.proxy) == (0, True)
    assert only(actions, LogEvent).fields["status"] == status.name
    assert len(lma.binding_cache) == 0
    assert lma.counters[f"rejected.{status.name}"] == 1


@pytest.mark.parametrize("why, src, change, status", REJECTS, ids=[r[0] for r in REJECTS])
def test_rejected_pbu_never_changes_an_existing_binding(why, src, change, status):
    lma = registered()
    before = cache_state(lma)
    for lifetime in (300, 0):
        request = pbu(sequence=11, lifetime=lifetime, **change)
        actions = lma.receive(src, request, T0)
        assert pba_of(actions).status == status
        assert without_logs(actions) == [SendMessage(src, pba_of(actions))]
    assert cache_state(lma) == before


def test_timestamp_not_later_than_last_accepted_is_157_and_pba_carries_lma_time():
    lma = registered()
    before = cache_state(lma)
    now = REGISTERED_AT + 0.2
    pba = pba_of(lma.receive(MAG2, pbu(sequence=11, timestamp=REGISTERED_AT), now))
    assert pba.status == Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED
    assert pba.option(Timestamp) == Timestamp.from_seconds(now)
    assert cache_state(lma) == before


def test_timestamp_mismatch_pba_carries_lma_time():
    lma = make_lma()
    pba = pba_of(lma.receive(MAG1, pbu(timestamp=T0 - 5), T0))
    assert pba.status == Status.TIMESTAMP_MISMATCH
    assert pba.option(Timestamp).seconds == pytest.approx(T0)


def test_timestamp_window_is_configurable():
    lma = make_lma(timestamp_validity_window=5.0)
    assert pba_of(lma.receive(MAG1, pbu(timestamp=T0 - 4), T0)).status == Status.ACCEPTED


def test_with_timestamps_sequence_order_is_ignored():
    lma = registered()
    pba = pba_of(lma.receive(MAG2, pbu(sequence=3, timestamp=T0 + 1), T0 + 1))
    assert pba.status == Status.ACCEPTED


def test_missing_or_foreign_prefix_on_existing_binding_is_rejected():
    lma = registered()
    pba = pba_of(lma.receive(MAG1, pbu(sequence=11, prefixes=()), T0))
    assert pba.status == Status.MISSING_HOME_NETWORK_PREFIX_OPTION
    two = (MN1_HNP, IPv6Network("2001:db8:1:99::/64"))
    policy_lma = make_lma()
    policy_lma.receive(MAG1, pbu(timestamp=REGISTERED_AT), REGISTERED_AT)
    assert pba_of(policy_lma.receive(MAG1, pbu(sequence=2, prefixes=two), T0)).status == (
        Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX
    )


def test_bce_prefix_set_mismatch_when_policy_grows():
    from dataclasses import replace

    extra = IPv6Network("2001:db8:1:99::/64")
    profile = replace(POLICY.mobile_nodes[0], home_network_prefixes=(MN1_HNP, extra))
    policy = replace(POLICY, mobile_nodes=(profile, POLICY.mobile_nodes[1]))
    lma = LocalMobilityAnchor(lma_config(), policy)
    lma.receive(MAG1, pbu(prefixes=(MN1_HNP,), timestamp=REGISTERED_AT), REGISTERED_AT)
    before = cache_state(lma)
    pba = pba_of(lma.receive(MAG1, pbu(sequence=2, prefixes=(MN1_HNP, extra)), T0))
    assert pba.status == Status.BCE_PBU_PREFIX_SET_DO_NOT_MATCH
    assert cache_state(lma) == before


# --- sequence-number mode (use_timestamps: false) --------------------------


def test_sequence_mode_rejects_old_sequence_with_135_and_last_accepted_number():
    lma = make_lma(use_timestamps=False)
    lma.receive(MAG1, pbu(sequence=10, timestamp=None), T0)
    before = cache_state(lma)
    for stale in (10, 9, 10 + 32768):
        pba = pba_of(lma.receive(MAG1, pbu(sequence=stale, timestamp=None), T0))
        assert pba.status == Status.SEQUENCE_NUMBER_OUT_OF_WINDOW
        assert pba.sequence == 10
    assert cache_state(lma) == before


def test_sequence_mode_accepts_wraparound():
    lma = make_lma(use_timestamps=False)
    lma.receive(MAG1, pbu(sequence=65535, timestamp=None), T0)
    pba = pba_of(lma.receive(MAG1, pbu(sequence=0, timestamp=None), T0 + 1))
    assert pba.status == Status.ACCEPTED
    assert lma.binding_cache.get(MN1).last_sequence == 0


def test_sequence_mode_does_not_require_timestamps():
    lma = make_lma(use_timestamps=False)
    assert pba_of(lma.receive(MAG1, pbu(timestamp=None), T0)).status == Status.ACCEPTED


# --- handoff and de-registration (RFC 5213 5.3.5 - 5.3.6) ------------------


def test_handoff_replaces_the_route_in_one_action():
    lma = registered()
    actions = without_logs(lma.receive(MAG2, pbu(sequence=1, timestamp=T0 + 1), T0 + 1))
    assert actions[:-1] == [InstallMnRoute(MN1, (MN1_HNP,), MAG2, MN1_SESSION)]
    assert pba_of(actions).status == Status.ACCEPTED and actions[-1].dst == MAG2
    assert lma.binding_cache.get(MN1).proxy_coa == MAG2


def test_deregistration_from_a_mag_that_is_no_longer_current_is_ignored():
    # B5, RFC 5213 5.3.5: the LMA MUST ignore it: no change, and no PBA either.
    lma = registered()
    lma.receive(MAG2, pbu(sequence=1, timestamp=T0 + 1), T0 + 1)
    before = cache_state(lma)
    actions = lma.receive(MAG1, pbu(sequence=11, lifetime=0, timestamp=T0 + 1.1), T0 + 1.1)
    assert without_logs(actions) == []
    assert only(actions, LogEvent).name == "deregistration_ignored"
    assert cache_state(lma) == before
    assert lma.counters["deregistration_ignored"] == 1 and lma.counters["accepted"] == 2


def test_deregistration_without_binding_is_acknowledged():
    lma = make_lma()
    actions = lma.receive(MAG1, pbu(lifetime=0), T0)
    assert pba_of(actions).status == Status.ACCEPTED
    assert len(lma.binding_cache) == 0


def test_deregistration_removes_route_after_pba_and_keeps_entry_min_delay():
    lma = registered()
    actions = without_logs(lma.receive(MAG1, pbu(sequence=11, lifetime=0), T0))
    assert actions[0].message.status == Status.ACCEPTED
    assert actions[0].message.lifetime == 0
    assert actions[1:] == [RemoveMnRoute(MN1, (MN1_HNP,), MAG1, MN1_SESSION)]
    entry = lma.binding_cache.get(MN1)
    assert entry.state is BindingState.DEREGISTERED
    assert lma.next_deadline() == T0 + 10

    assert without_logs(lma.on_timer(T0 + 9.99)) == []
    assert MN1 in lma.binding_cache
    assert without_logs(lma.on_timer(T0 + 10)) == []
    assert MN1 not in lma.binding_cache


def test_min_delay_before_bce_delete_is_configurable():
    lma = registered(min_delay_before_bce_delete=2.0)
    lma.receive(MAG1, pbu(sequence=11, lifetime=0), T0)
    assert lma.next_deadline() == T0 + 2


def test_new_mag_within_min_delay_takes_over_the_entry():
    lma = registered()
    lma.receive(MAG1, pbu(sequence=11, lifetime=0), T0)
    actions = without_logs(lma.receive(MAG2, pbu(sequence=1, timestamp=T0 + 2), T0 + 2))
    assert actions[:-1] == [InstallMnRoute(MN1, (MN1_HNP,), MAG2, MN1_SESSION)]
    entry = lma.binding_cache.get(MN1)
    assert (entry.state, entry.proxy_coa, entry.expires_at) == (
        BindingState.ACTIVE,
        MAG2,
        T0 + 302,
    )


def test_repeated_deregistration_does_not_restart_the_delete_timer():
    lma = registered()
    lma.receive(MAG1, pbu(sequence=11, lifetime=0), T0)
    actions = lma.receive(MAG1, pbu(sequence=12, lifetime=0, timestamp=T0 + 5), T0 + 5)
    assert pba_of(actions).status == Status.ACCEPTED
    assert lma.next_deadline() == T0 + 10


def test_binding_expires_at_end_of_lifetime():
    lma = registered(heartbeat_interval=0.0)
    assert lma.next_deadline() == REGISTERED_AT + 300
    assert lma.on_timer(REGISTERED_AT + 299.9) == []
    actions = lma.on_timer(REGISTERED_AT + 300)
    assert without_logs(actions) == [RemoveMnRoute(MN1, (MN1_HNP,), MAG1, MN1_SESSION)]
    assert only(actions, LogEvent).name == "binding_expired"
    assert len(lma.binding_cache) == 0 and lma.next_deadline() is None


# --- buffering hooks ----------------------------------------------------------


def test_buffered_deregistration_starts_buffering_before_the_pba_and_the_route_removal():
    lma = registered(buffering=True)
    actions = without_logs(lma.receive(MAG1, pbu(sequence=11, lifetime=0), T0))
    assert [type(a) for a in actions] == [StartBuffering, SendMessage, RemoveMnRoute]
    assert actions[0] == StartBuffering(MN1, (MN1_HNP,), MN1_SESSION)
    assert lma.binding_cache.get(MN1).buffering is True


def test_new_mag_route_then_release_buffer_then_pba():
    # The PBA last: the new MAG's access route came before its PBU, so the
    # released packets need nothing from the PBA, which stays off their path.
    lma = registered(buffering=True)
    lma.receive(MAG1, pbu(sequence=11, lifetime=0), T0)
    actions = without_logs(lma.receive(MAG2, pbu(sequence=1, timestamp=T0 + 1), T0 + 1))
    assert [type(a) for a in actions] == [InstallMnRoute, ReleaseBuffer, SendMessage]
    assert actions[1] == ReleaseBuffer(MN1, (MN1_HNP,), MAG2, MN1_SESSION)
    assert lma.binding_cache.get(MN1).buffering is False


def test_buffer_is_discarded_when_the_mn_never_comes_back():
    lma = registered(buffering=True)
    lma.receive(MAG1, pbu(sequence=11, lifetime=0), T0)
    actions = lma.on_timer(T0 + 10)
    assert without_logs(actions) == [DiscardBuffer(MN1, (MN1_HNP,), MN1_SESSION)]
    assert len(lma.binding_cache) == 0


def test_buffer_hold_time_overrides_the_delete_delay():
    from dataclasses import replace

    config = lma_config(buffering=True)
    lma_section = replace(config.lma, buffering=replace(config.lma.buffering, hold_time=3.0))
    lma = LocalMobilityAnchor(replace(config, lma=lma_section), POLICY)
    lma.receive(MAG1, pbu(sequence=10, timestamp=REGISTERED_AT), REGISTERED_AT)
    lma.receive(MAG1, pbu(sequence=11, lifetime=0), T0)
    assert lma.next_deadline() == T0 + 3


def test_set_buffering_switches_later_deregistrations():
    lma = registered(buffering=True)
    lma.set_buffering(False)
    actions = lma.receive(MAG1, pbu(sequence=11, lifetime=0), T0)
    assert of_type(actions, StartBuffering) == []
    lma2 = registered()
    lma2.set_buffering(True)
    assert of_type(lma2.receive(MAG1, pbu(sequence=11, lifetime=0), T0), StartBuffering)


def test_handoff_without_deregistration_releases_nothing():
    lma = registered(buffering=True)
    actions = lma.receive(MAG2, pbu(sequence=1, timestamp=T0 + 1), T0 + 1)
    assert of_type(actions, ReleaseBuffer) == []


# --- misc -------------------------------------------------------------------------


def test_transition_table_covers_every_case():
    states = (None, BindingState.ACTIVE, BindingState.DEREGISTERED)
    cases = {(s, c, r) for s in states for c in (False, True) for r in (False, True)}
    cases -= {(None, True, False), (None, True, True)}  # no entry, so no "current" MAG
    assert set(TRANSITIONS) == cases


def test_acknowledgement_sent_to_lma_is_ignored():
    lma = make_lma()
    actions = lma.receive(MAG1, BindingAcknowledgement(proxy=True), T0)
    assert only(actions, LogEvent).name == "message_ignored"
    assert lma.counters["ignored_messages"] == 1


def test_snapshot_is_json_and_shows_the_binding():
    lma = registered()
    snapshot = json.loads(json.dumps(lma.snapshot(REGISTERED_AT + 100)))
    (entry,) = snapshot["binding_cache"]
    assert entry["mn_id"] == MN1
    assert entry["proxy_coa"] == str(MAG1)
    assert entry["remaining"] == 200
    assert snapshot["counters"]["registration"] == 1


def test_lma_requires_lma_section():
    from tests.core.core_builders import mag_config

    with pytest.raises(ValueError):
        LocalMobilityAnchor(mag_config(), POLICY)


def test_counters_count_accepts_and_rejects():
    lma = registered()
    lma.receive(ROGUE_MAG, pbu(), T0)
    assert lma.counters["accepted"] == 1
    assert lma.counters["rejected"] == 1
    assert lma.counters["pbu_received"] == 2
