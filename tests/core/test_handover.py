"""LMA and MAGs talking through the wire codec: registration, handover, loss."""

from pmip6d.core import (
    BindingState,
    BulState,
    HandBackHeld,
    HoldForMn,
    InstallMnRoute,
    ReleaseBuffer,
    RemoveMnRoute,
    SendMessage,
    SendRouterAdvertisement,
    SetupMnForwarding,
    StartBuffering,
    TeardownMnForwarding,
)
from tests.core.core_builders import MAG1, MAG2, MN1, MN1_MAC, T0, without_logs
from tests.core.domain import InMemoryDomain


def test_attach_registers_at_the_lma_and_advertises_the_prefix():
    domain = InMemoryDomain.build([MAG1, MAG2])
    domain.deliver(MAG1, domain.mags[MAG1].mn_attached("eth2", MN1_MAC, T0), T0)
    assert domain.routes == {MN1: MAG1}
    assert domain.lma.binding_cache.get(MN1).state is BindingState.ACTIVE
    assert any(isinstance(a, SendRouterAdvertisement) for a in domain.log)


def test_break_before_make_handover_with_buffering():
    domain = InMemoryDomain.build([MAG1, MAG2], buffering=True)
    mag1, mag2 = domain.mags[MAG1], domain.mags[MAG2]
    domain.deliver(MAG1, mag1.mn_attached("eth2", MN1_MAC, T0), T0)
    domain.log.clear()

    domain.deliver(MAG1, mag1.mn_detached("eth2", T0 + 5), T0 + 5)
    assert domain.buffering == {MN1} and domain.routes == {}
    domain.deliver(MAG2, mag2.mn_attached("eth2", MN1_MAC, T0 + 6), T0 + 6)

    kinds = [type(a) for a in without_logs(domain.log) if not isinstance(a, SendMessage)]
    assert kinds == [
        HoldForMn,
        TeardownMnForwarding,
        StartBuffering,
        RemoveMnRoute,
        HandBackHeld,
        SetupMnForwarding,
        InstallMnRoute,
        ReleaseBuffer,
        SendRouterAdvertisement,
    ]
    assert domain.routes == {MN1: MAG2} and domain.buffering == set()
    assert len(mag1.binding_update_list) == 0
    assert mag2.binding_update_list.get(MN1).state is BulState.REGISTERED


def test_make_before_break_handover_leaves_the_new_binding_alone():
    domain = InMemoryDomain.build([MAG1, MAG2])
    mag1, mag2 = domain.mags[MAG1], domain.mags[MAG2]
    domain.deliver(MAG1, mag1.mn_attached("eth2", MN1_MAC, T0), T0)
    domain.deliver(MAG2, mag2.mn_attached("eth2", MN1_MAC, T0 + 1), T0 + 1)
    domain.deliver(MAG1, mag1.mn_detached("eth2", T0 + 2), T0 + 2)
    assert domain.routes == {MN1: MAG2}
    assert domain.lma.binding_cache.get(MN1).state is BindingState.ACTIVE


def test_sequence_mode_handover_resyncs_the_new_mag():
    domain = InMemoryDomain.build([MAG1, MAG2], use_timestamps=False)
    mag1, mag2 = domain.mags[MAG1], domain.mags[MAG2]
    domain.deliver(MAG1, mag1.mn_attached("eth2", MN1_MAC, T0), T0)
    domain.run_until(T0 + 600)  # refreshes push MAG1's sequence numbers ahead
    domain.deliver(MAG2, mag2.mn_attached("eth2", MN1_MAC, T0 + 601), T0 + 601)
    assert domain.routes == {MN1: MAG2}
    assert mag2.counters["sequence_resyncs"] == 1


def test_binding_survives_an_hour_of_refreshes():
    domain = InMemoryDomain.build([MAG1])
    domain.deliver(MAG1, domain.mags[MAG1].mn_attached("eth2", MN1_MAC, T0), T0)
    domain.run_until(T0 + 3600)
    assert domain.routes == {MN1: MAG1}
    assert domain.mags[MAG1].counters["refreshes"] >= 14


def test_lost_pbu_is_recovered_by_retransmission():
    domain = InMemoryDomain.build([MAG1])
    domain.drop_next = 1
    domain.deliver(MAG1, domain.mags[MAG1].mn_attached("eth2", MN1_MAC, T0), T0)
    assert domain.routes == {}
    domain.run_until(T0 + 1.5)
    assert domain.routes == {MN1: MAG1}
    assert domain.mags[MAG1].counters["retransmissions"] == 1


def test_lma_unreachable_the_mag_gives_up_and_registers_the_mn_once_it_answers_again():
    domain = InMemoryDomain.build([MAG1])
    domain.drop_next = 100
    domain.deliver(MAG1, domain.mags[MAG1].mn_attached("eth2", MN1_MAC, T0), T0)
    domain.run_until(T0 + 150)
    mag = domain.mags[MAG1]
    assert mag.binding_update_list.get(MN1).state is BulState.FAILED
    assert mag.counters["give_ups"] == 1
    assert MN1 not in domain.routes
    domain.drop_next = 0  # the LMA is back
    domain.run_until(T0 + 400)
    assert mag.counters["registration_retries"] >= 1
    assert mag.binding_update_list.get(MN1).state is BulState.REGISTERED
    assert domain.routes == {MN1: MAG1}
