"""RFC 5847 heartbeats: a MAG learns its LMA's Restart Counter, and re-registers
its MNs the moment a restarted LMA announces a new one."""

from pmip6d.core import LocalMobilityAnchor, LogEvent, SendMessage
from pmip6d.core.heartbeat import HeartbeatOutcome, PeerHeartbeat
from pmip6d.wire import BindingUpdate, Heartbeat, RestartCounter
from tests.core.core_builders import (
    LMAA,
    MAG1,
    MAG2,
    MN1,
    MN1_MAC,
    MN2,
    MN2_MAC,
    POLICY,
    ROGUE_MAG,
    T0,
    lma_config,
)
from tests.core.domain import InMemoryDomain


def heartbeats(actions) -> list[SendMessage]:
    return [a for a in actions if isinstance(a, SendMessage) and isinstance(a.message, Heartbeat)]


def pbus(log) -> list[BindingUpdate]:
    return [
        a.message
        for a in log
        if isinstance(a, SendMessage) and isinstance(a.message, BindingUpdate)
    ]


def counter_of(message: Heartbeat) -> int:
    option = message.option(RestartCounter)
    assert option is not None
    return option.value


def events(log, name: str) -> list[LogEvent]:
    return [a for a in log if isinstance(a, LogEvent) and a.name == name]


def domain_with_registered_mns(**timers) -> InMemoryDomain:
    domain = InMemoryDomain.build([MAG1, MAG2], **timers)
    domain.lma = LocalMobilityAnchor(lma_config(**timers), POLICY, restart_counter=100)
    for address, mag in domain.mags.items():
        domain.deliver(address, mag.start(T0), T0)
    domain.deliver(MAG1, domain.mags[MAG1].mn_attached("eth2", MN1_MAC, T0 + 1), T0 + 1)
    domain.deliver(MAG2, domain.mags[MAG2].mn_attached("eth2", MN2_MAC, T0 + 1), T0 + 1)
    assert domain.routes == {MN1: MAG1, MN2: MAG2}
    return domain


def restart_lma(domain: InMemoryDomain, now: float, counter: int) -> None:
    """The LMA process dies and starts again: binding cache and routes are gone."""
    domain.lma = LocalMobilityAnchor(lma_config(), POLICY, restart_counter=counter)
    domain.routes.clear()
    domain.session_routes.clear()
    domain.log.clear()
    domain.deliver(LMAA, domain.lma.start(now), now)


def test_a_mag_asks_at_start_and_learns_the_lma_restart_counter():
    domain = domain_with_registered_mns()
    mag = domain.mags[MAG1]
    assert mag.snapshot(T0)["heartbeat"]["peer_restart_counter"] == 100
    assert mag.heartbeat.responses == 1 and mag.heartbeat.outstanding is None


def test_a_restarted_lma_gets_every_registered_mn_back_at_once():
    domain = domain_with_registered_mns()
    restart_lma(domain, T0 + 100, counter=101)

    # Each MAG re-registered its MN on the announcement, not at its next refresh.
    assert domain.routes == {MN1: MAG1, MN2: MAG2}
    assert len(pbus(domain.log)) == 2
    assert all(pbu.lifetime > 0 for pbu in pbus(domain.log))
    restarted = events(domain.log, "lma_restarted")
    assert [e.fields["previous"] for e in restarted] == [100, 100]
    assert [e.fields["restart_counter"] for e in restarted] == [101, 101]
    for address, mag in domain.mags.items():
        assert mag.counters["lma_restarts"] == 1
        assert [e.state.value for e in mag.binding_update_list] == ["registered"], address


def test_an_announcement_with_the_same_counter_changes_nothing():
    domain = domain_with_registered_mns()
    domain.log.clear()
    domain.deliver(LMAA, domain.lma.start(T0 + 5), T0 + 5)  # same LMA, same counter
    assert pbus(domain.log) == []
    assert events(domain.log, "lma_restarted") == []


def test_requests_follow_the_interval_and_silence_makes_the_lma_unreachable_once():
    domain = domain_with_registered_mns(heartbeat_interval=10.0, missing_heartbeats_allowed=3)
    mag = domain.mags[MAG1]
    sent = []
    for step in range(1, 6):
        actions = mag.on_timer(T0 + 10 * step)  # the LMA is silent: nothing delivered
        sent += heartbeats(actions)
        domain.log += actions
    assert [s.message.sequence for s in sent] == [2, 3, 4, 5, 6]
    assert len(events(domain.log, "lma_unreachable")) == 1
    assert mag.snapshot(T0)["heartbeat"]["unreachable"] is True

    # The LMA answers the latest request: reachable again, nothing to re-register.
    domain.log.clear()
    replies = domain.lma.receive(MAG1, sent[-1].message, T0 + 51)
    domain.deliver(LMAA, replies, T0 + 51)
    assert len(events(domain.log, "lma_reachable")) == 1
    assert pbus(domain.log) == []
    assert mag.heartbeat.missed == 0


def test_a_stale_or_foreign_response_is_ignored():
    heartbeat = PeerHeartbeat(LMAA, interval=60.0, missing_allowed=3)
    request = heartbeat.request(T0)
    late = Heartbeat(sequence=request.sequence + 7, response=True)
    assert heartbeat.on_response(late).outcome is HeartbeatOutcome.IGNORED
    assert heartbeat.on_response(request).outcome is HeartbeatOutcome.IGNORED  # not a response
    answer = Heartbeat(sequence=request.sequence, response=True, options=(RestartCounter(5),))
    assert heartbeat.on_response(answer).outcome is HeartbeatOutcome.FIRST_COUNTER
    assert heartbeat.on_response(answer).outcome is HeartbeatOutcome.IGNORED  # answered already


def test_the_lma_answers_authorized_mags_only_with_its_counter():
    lma = LocalMobilityAnchor(lma_config(), POLICY, restart_counter=7)
    (reply,) = lma.receive(MAG1, Heartbeat(sequence=42), T0)
    assert reply.dst == MAG1 and reply.message.response and reply.message.sequence == 42
    assert counter_of(reply.message) == 7
    rogue = lma.receive(ROGUE_MAG, Heartbeat(sequence=1), T0)
    assert heartbeats(rogue) == []
    assert lma.counters["heartbeat_from_unknown_mag"] == 1


def test_the_lma_announces_its_counter_to_every_mag_at_start():
    lma = LocalMobilityAnchor(lma_config(), POLICY, restart_counter=9)
    sent = heartbeats(lma.start(T0))
    assert [s.dst for s in sent] == [MAG1, MAG2]
    assert all(s.message.unsolicited and s.message.response for s in sent)
    assert {counter_of(s.message) for s in sent} == {9}


def test_heartbeat_interval_zero_turns_them_off_but_requests_are_still_answered():
    domain = InMemoryDomain.build([MAG1], heartbeat_interval=0.0)
    assert domain.mags[MAG1].start(T0) == []
    assert domain.lma.start(T0) == []
    assert domain.mags[MAG1].next_deadline() is None
    (reply,) = domain.mags[MAG1].receive(LMAA, Heartbeat(sequence=3), T0)
    assert reply.message.response and reply.message.sequence == 3
