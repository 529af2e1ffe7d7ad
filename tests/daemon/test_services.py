"""The LMA and MAG services without root: every action of the core has exactly one
method that carries it out, checked when the class is defined; actions are
carried out in the order the core gives them, through the adapters.

The adapters here record what they are asked to do (the real ones need root and
are tested in tests/io and tests/netns); the state machines are the real ones.
"""

from __future__ import annotations

import asyncio
import io
import json
from ipaddress import IPv6Address
from pathlib import Path
from typing import get_args

import pytest

from pmip6d.config import BufferingConfig, LmaConfig, MagConfig, NodeConfig, parse_policy
from pmip6d.core import actions as act
from pmip6d.daemon.dispatch import action_table, carries_out
from pmip6d.daemon.eventlog import EventLog
from pmip6d.daemon.lma_buffering import LmaBuffering
from pmip6d.daemon.lma_service import LmaService
from pmip6d.daemon.mag_service import CompleteSetup, MagService
from pmip6d.daemon.service import ServiceBase
from pmip6d.io.hand_back_socket import HandBackDatagram
from pmip6d.wire import (
    AccessTechnologyType,
    BindingAcknowledgement,
    BindingUpdate,
    Handoff,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    Timestamp,
    decode,
)
from pmip6d.wire.handback import pack_hand_back
from pmipv6_lab.plan import DomainPlan

from .test_lma_buffering import QueueModel

PLAN = DomainPlan(mags=1, mns=1)
POLICY = parse_policy(PLAN.policy())
LMAA, MAG1 = PLAN.lma_address, PLAN.mag(1).proxy_coa
MN, MN_MAC, HNP = PLAN.mobile_node().nai, PLAN.mobile_node().mac, PLAN.mobile_node().home_prefix
PREFIXES = (HNP,)


class Done:
    """What a recorded call returns: awaitable, and harmless when not awaited."""

    def __await__(self):
        return iter(())


class Recorder:
    """An adapter that records each call as (adapter, method, arguments)."""

    def __init__(self, name: str, calls: list) -> None:
        self._name, self._calls = name, calls

    def __getattr__(self, method: str):
        def record(*args, **keywords):
            self._calls.append((self._name, method, (*args, *keywords.items())))
            return Done()

        return record


def lma_service(calls: list) -> LmaService:
    config = NodeConfig(
        role="lma",
        policy_file=Path("policy.yaml"),
        lma=LmaConfig(address=LMAA, buffering=BufferingConfig(expect_hand_back=False)),
    )
    log = EventLog("lma", "json", io.StringIO())
    service = LmaService(config, POLICY, log)
    service.tunnels = Recorder("tunnels", calls)
    service.mh = Recorder("mh", calls)
    service.icmpv6 = Recorder("icmpv6", calls)
    service.buffers = LmaBuffering(config.lma.buffering, config.protocol, log, kernel=QueueModel())
    service.buffers.start()
    return service


def mag_service(calls: list) -> MagService:
    config = NodeConfig(
        role="mag",
        policy_file=Path("policy.yaml"),
        mag=MagConfig(proxy_coa=MAG1, lma_address=LMAA, access_interfaces=("eth2",)),
    )
    service = MagService(config, POLICY, EventLog("mag1", "json", io.StringIO()))
    for name in ("tunnels", "mh", "icmpv6", "access", "holding", "advertiser"):
        setattr(service, name, Recorder(name, calls))
    return service


def carried_out(service: ServiceBase) -> None:
    """Carry out every queued action in order, as the service's worker task does
    (including what carrying one out queues)."""

    async def drain() -> None:
        while not service._queue.empty():
            await service.carry_out(service._queue.get_nowait())
            service._queue.task_done()

    asyncio.run(drain())


def log_events(service: ServiceBase) -> list[dict]:
    return [json.loads(line) for line in service.log.stream.getvalue().splitlines()]


# --- one method per action type, checked when the class is defined -------------


@pytest.mark.parametrize(
    "service, union, own",
    [(LmaService, act.LmaAction, ()), (MagService, act.MagAction, (CompleteSetup,))],
    ids=["lma", "mag"],
)
def test_every_action_of_the_role_has_exactly_one_method(service, union, own):
    assert set(service.handlers) == {*get_args(union), *own}
    methods = [service.handlers[t] for t in get_args(union)]
    assert len(set(methods)) == len(methods)


def test_a_service_without_a_method_for_an_action_is_refused_when_defined():
    with pytest.raises(TypeError, match="no method carries out ReleaseBuffer"):

        class Incomplete(ServiceBase):
            actions = (act.LogEvent, act.SendMessage, act.ReleaseBuffer)


def test_two_methods_for_one_action_are_refused():
    class Doubled:
        @carries_out(act.SendMessage)
        def one(self, action): ...

        @carries_out(act.SendMessage)
        def other(self, action): ...

    with pytest.raises(TypeError, match="SendMessage is carried out by 2 methods"):
        action_table(Doubled, [act.SendMessage])


def test_a_method_for_an_action_the_role_does_not_take_is_refused():
    class Stray:
        @carries_out(act.HoldForMn)
        def hold(self, action): ...

    with pytest.raises(TypeError, match="which Stray does not take"):
        action_table(Stray, [])


# --- each action reaches its adapter ---------------------------------------------

# A Binding Update whose Payload Proto is not 59 (RFC 6275 9.2: pointer 0).
PARAMETER_PROBLEM = act.SendParameterProblem(MAG1, LMAA, bytes.fromhex("06010500000000000000"), 0)
LMA_SAMPLES = [
    (
        act.InstallMnRoute(MN, PREFIXES, MAG1),
        [("tunnels", "route_prefix_to_peer")],
    ),
    (
        act.RemoveMnRoute(MN, PREFIXES, MAG1),
        [("tunnels", "remove_prefix_route")],
    ),
    (act.StartBuffering(MN, PREFIXES), []),
    (act.ReleaseBuffer(MN, PREFIXES, MAG1), []),
    (act.DiscardBuffer(MN, PREFIXES), []),
    (act.SendMessage(MAG1, BindingAcknowledgement(status=0)), [("mh", "send")]),
    (PARAMETER_PROBLEM, [("icmpv6", "send")]),
    (act.LogEvent("pbu_accepted", {"mn_id": MN}), []),
]
SETUP = act.SetupMnForwarding(MN, PREFIXES, LMAA, "eth2", MN_MAC)
MAG_CONFIG = MagConfig(proxy_coa=MAG1, lma_address=LMAA, access_interfaces=("eth2",))
RA = act.SendRouterAdvertisement(
    "eth2", MN_MAC, MAG_CONFIG.access_link_local, MAG_CONFIG.access_link_layer,
    PREFIXES, 1800, 86400, 14400,
)  # fmt: skip
MAG_SAMPLES = [
    (SETUP, [("access", "route_prefix_to_access")]),
    (
        CompleteSetup(SETUP),
        [("tunnels", "route_source_prefix_to_peer"), ("holding", "mn_routes_up")],
    ),
    (
        act.TeardownMnForwarding(MN, PREFIXES, LMAA, "eth2", MN_MAC),
        [
            ("access", "remove_access_route"),
            ("tunnels", "remove_source_prefix_route"),
            ("holding", "mn_routes_down"),
        ],
    ),
    (RA, [("advertiser", "send")]),
    (act.HoldForMn(MN, PREFIXES), [("holding", "hold")]),
    (act.HandBackHeld(MN, PREFIXES, LMAA), [("holding", "hand_back")]),
    (
        act.SendMessage(LMAA, BindingUpdate(sequence=1, lifetime=0)),
        [("mh", "send")],
    ),
    (PARAMETER_PROBLEM, [("icmpv6", "send")]),
    (act.LogEvent("mn_attached", {"mn_id": MN}), []),
]


@pytest.mark.parametrize(
    "make, samples, role",
    [(lma_service, LMA_SAMPLES, LmaService), (mag_service, MAG_SAMPLES, MagService)],
    ids=["lma", "mag"],
)
def test_each_action_is_carried_out_by_its_adapter(make, samples, role):
    assert {type(action) for action, _ in samples} == set(role.handlers), "one sample a type"
    for action, expected in samples:
        calls: list = []
        service = make(calls)
        asyncio.run(service.carry_out(action))
        assert [(adapter, method) for adapter, method, _ in calls] == expected, action
        assert not service.io_counters, service.io_counters


def test_the_lma_buffer_actions_reach_the_buffer():
    service = lma_service([])
    kernel = service.buffers.kernel
    asyncio.run(service.carry_out(act.StartBuffering(MN, PREFIXES)))
    assert kernel.rules == [HNP] and service.buffers.pool.get(MN) is not None
    asyncio.run(service.carry_out(act.DiscardBuffer(MN, PREFIXES)))
    assert kernel.rules == [] and service.buffers.pool.get(MN) is None


def test_a_failing_action_is_counted_and_logged_and_the_next_one_still_runs():
    calls: list = []
    service = lma_service(calls)

    class Broken(Recorder):
        def route_prefix_to_peer(self, prefix, peer):
            raise OSError("no route to the MAG")

    service.tunnels = Broken("tunnels", calls)
    pba = act.SendMessage(MAG1, BindingAcknowledgement(status=0))
    service.submit([act.InstallMnRoute(MN, PREFIXES, MAG1), pba])
    carried_out(service)
    assert service.io_counters["action_failed.InstallMnRoute"] == 1
    failed = [e for e in log_events(service) if e["event"] == "action_failed"]
    assert failed[0]["action"] == "InstallMnRoute" and "no route" in failed[0]["error"]
    assert [(a, m) for a, m, _ in calls] == [("mh", "send")]


# --- the real state machines through the services -----------------------------------


def pbu(sequence: int, lifetime: int, now: float) -> BindingUpdate:
    options = [
        MobileNodeIdentifier(MN),
        HomeNetworkPrefix(HNP),
        HandoffIndicator(Handoff.UNKNOWN),
        AccessTechnologyType(3),
        Timestamp.from_seconds(now),
    ]
    return BindingUpdate(sequence=sequence, lifetime=lifetime, ack=True, proxy=True,
                         options=options)  # fmt: skip


def test_the_lma_routes_the_prefix_before_it_answers_the_registration():
    calls: list = []
    service = lma_service(calls)
    now = 1_700_000_000.0
    service.submit(service.machine.receive(MAG1, pbu(1, 300, now), now))
    carried_out(service)
    assert [(a, m) for a, m, _ in calls] == [("tunnels", "route_prefix_to_peer"), ("mh", "send")]
    assert calls[0][2] == (HNP, MAG1)
    destination, wire = calls[1][2]
    assert destination == MAG1 and decode(wire).status == 0
    assert [e["event"] for e in log_events(service)] == ["pbu_accepted"]


def test_the_lma_holds_before_it_answers_a_de_registration():
    calls: list = []
    service = lma_service(calls)
    now = 1_700_000_000.0
    service.submit(service.machine.receive(MAG1, pbu(1, 300, now), now))
    service.submit(service.machine.receive(MAG1, pbu(2, 0, now + 1), now + 1))
    carried_out(service)
    assert service.buffers.kernel.rule_changes == [("hold", HNP)]
    sent = [args for adapter, method, args in calls if (adapter, method) == ("mh", "send")]
    assert len(sent) == 2  # the de-registration was answered after the rule was in place


def test_the_lma_takes_a_hand_back_only_from_an_authorized_mag():
    service = lma_service([])
    service.submit([act.StartBuffering(MN, PREFIXES)])
    carried_out(service)
    packet = bytes([0x60]) + bytes(3) + (0).to_bytes(2, "big") + bytes([17, 64])
    packet += bytes(16) + (HNP.network_address + 1).packed
    (datagram,) = pack_hand_back(MN, [packet])

    class Arrivals:
        def __init__(self, items):
            self.items = list(items)

        def receive(self):
            return self.items.pop(0) if self.items else None

    rogue = IPv6Address("2001:db8:ffff::99")
    service.hand_backs = Arrivals(
        [HandBackDatagram(rogue, datagram), HandBackDatagram(MAG1, datagram)]
    )
    service._on_hand_back()
    assert service.io_counters["hand_back_unauthorized"] == 1
    events = [e["event"] for e in log_events(service)]
    assert "hand_back_refused" in events and "hand_back_received" in events
    assert service.buffers.pool.get(MN).handed_back == 1


def attached_mag(calls: list, now: float) -> MagService:
    service = mag_service(calls)
    service.submit(service.machine.mn_attached("eth2", MN_MAC, now))
    carried_out(service)
    return service


def test_the_mag_sets_up_the_access_route_before_the_pbu_and_the_rest_after():
    calls: list = []
    now = 1_700_000_000.0
    service = attached_mag(calls, now)
    # What the LMA releases on acceptance must find the access route; the uplink
    # rule and the hold route follow the PBU, off the handover's critical path.
    assert [(a, m) for a, m, _ in calls] == [
        ("access", "route_prefix_to_access"),
        ("mh", "send"),
        ("tunnels", "route_source_prefix_to_peer"),
        ("holding", "mn_routes_up"),
    ]
    # The PBA: what a real LMA answers to the PBU that went out.
    answered = lma_service([]).machine.receive(MAG1, decode(calls[1][2][1]), now + 0.01)
    (pba,) = [a.message for a in answered if isinstance(a, act.SendMessage)]
    calls.clear()
    service.submit(service.machine.receive(LMAA, pba, now + 0.01))
    carried_out(service)
    assert [(a, m) for a, m, _ in calls] == [("advertiser", "send")]  # the RA, nothing more
    assert "registered" in [e["event"] for e in log_events(service)]


def test_an_announced_detach_answers_once_the_access_route_is_gone():
    calls: list = []
    now = 1_700_000_000.0
    service = attached_mag(calls, now)

    async def detach() -> dict:
        worker = asyncio.create_task(service._carry_out())
        try:
            return await service.command({"command": "detach", "interface": "eth2"}, now + 1)
        finally:
            worker.cancel()

    assert asyncio.run(detach()) == {"detached": MN, "interface": "eth2"}
    assert ("access", "remove_access_route") in [(a, m) for a, m, _ in calls]
