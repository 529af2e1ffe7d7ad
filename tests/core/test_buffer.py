import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmip6d.config import BufferLimits, ReleasePacing
from pmip6d.core.buffer import (
    HELD,
    RELEASE_NOW,
    ArrivalRateEstimator,
    BufferPool,
    BufferState,
    DropReason,
    HandoverBuffer,
    InvalidTransition,
    Verdict,
    VerdictAction,
)

ROOMY = BufferLimits(
    max_packets_per_mn=100_000,
    max_bytes_per_mn=10**9,
    max_packets_total=100_000,
    max_bytes_total=10**9,
    hold_time=1000.0,
)


def drop(reason: DropReason) -> Verdict:
    return Verdict(VerdictAction.DROP, reason)


class Run:
    """An event loop the way an adapter runs one: arrivals, deadlines, rule removal."""

    def __init__(self, buffer: HandoverBuffer) -> None:
        self.buffer = buffer
        self.released: list[tuple[float, int]] = []
        self.dropped: list[int] = []
        self.rule_removed_at: float | None = None
        self.now = buffer.opened_at

    def advance(self, until: float) -> None:
        """Serve every deadline up to `until`, as the adapter's timer would."""
        for _ in range(100_000):
            deadline = self.buffer.next_deadline()
            if deadline is None or deadline > until:
                self.now = max(self.now, until)
                return
            self.now = max(self.now, deadline)
            self.tick()
        raise AssertionError("deadlines do not make progress")

    def tick(self) -> None:
        before = (self.buffer.depth, self.buffer.state, self.buffer.next_deadline())
        self.dropped += self.buffer.expire(self.now)
        self.released += [(self.now, h) for h in self.buffer.due(self.now)]
        if self.buffer.should_remove_rule(self.now):
            self.rule_removed_at = self.now
            if self.buffer.state is BufferState.PASSTHROUGH:
                self.buffer.close(self.now)
            return
        after = (self.buffer.depth, self.buffer.state, self.buffer.next_deadline())
        # A deadline that changes nothing and does not move is a busy loop.
        assert after != before or after[2] is None or after[2] > self.now

    def arrive(self, at: float, handle: int, size: int = 1000) -> Verdict:
        self.advance(at)
        verdict = self.buffer.hold(handle, size, at)
        if verdict.action is VerdictAction.RELEASE:
            self.released.append((at, handle))
        elif verdict.action is VerdictAction.DROP:
            self.dropped.append(handle)
        return verdict

    def start_release(self, at: float) -> list[int]:
        self.advance(at)
        burst = self.buffer.start_release(at)
        self.released += [(at, h) for h in burst]
        return burst

    @property
    def released_handles(self) -> list[int]:
        return [h for _, h in self.released]


def is_subsequence(sub: list[int], seq: list[int]) -> bool:
    it = iter(seq)
    return all(x in it for x in sub)


# --- arrival rate -------------------------------------------------------------


@given(
    interval=st.floats(min_value=1e-4, max_value=2.0),
    count=st.integers(min_value=2, max_value=200),
    window=st.floats(min_value=0.05, max_value=5.0),
)
def test_constant_rate_is_measured_exactly(interval: float, count: int, window: float) -> None:
    estimator = ArrivalRateEstimator(window)
    for i in range(count):
        estimator.observe(10.0 + i * interval)
    assert estimator.rate_pps == pytest.approx(1.0 / interval, rel=1e-6)


def test_rate_is_unknown_until_time_has_passed_between_arrivals() -> None:
    estimator = ArrivalRateEstimator(0.5)
    estimator.observe(1.0)
    assert estimator.rate_pps is None
    estimator.observe(1.0)
    assert estimator.rate_pps is None
    estimator.observe(1.5)
    # The burst's second packet has aged by one window by now.
    assert estimator.rate_pps == pytest.approx((math.exp(-1.0) + 1.0) / 0.5)


def test_rate_follows_a_slowdown_within_ten_windows() -> None:
    estimator = ArrivalRateEstimator(0.5)
    t = 0.0
    for _ in range(1000):
        t += 0.001
        estimator.observe(t)
    assert estimator.rate_pps == pytest.approx(1000, rel=1e-6)
    # A fast past weighs by its packet count, so it fades over ~10 windows, not 3.
    for _ in range(50):
        t += 0.1
        estimator.observe(t)
    assert estimator.rate_pps == pytest.approx(10, rel=0.01)


# --- policy validation --------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_release_rate": 0},
        {"release_burst": 0},
        {"release_rate_factor": -1},
        {"rate_window": 0},
        {"idle_close": -0.1},
        {"min_release_rate": 100, "max_release_rate": 50},
    ],
)
def test_release_pacing_rejects_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ReleasePacing(**kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"max_packets_per_mn": 0}, {"max_bytes_total": 0}, {"hold_time": 0}]
)
def test_limits_reject_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        BufferLimits(**kwargs)


# --- holding and releasing ----------------------------------------------------


def test_first_burst_leaves_at_once_and_the_rest_is_paced() -> None:
    pacing = ReleasePacing(release_rate_factor=0.0, min_release_rate=100.0, release_burst=4)
    buffer = HandoverBuffer("mn", 0.0, ROOMY, pacing)
    for handle in range(10):
        assert buffer.hold(handle, 100, 0.01 * handle) == HELD
    assert buffer.state is BufferState.HOLDING
    assert buffer.due(1.0) == []  # nothing leaves before the new registration

    assert buffer.start_release(1.0) == [0, 1, 2, 3]
    assert buffer.state is BufferState.RELEASING
    assert buffer.next_deadline() == pytest.approx(1.01)
    assert buffer.due(1.005) == []
    assert buffer.due(1.01) == [4]
    assert buffer.due(1.035) == [5, 6]
    assert buffer.due(2.0) == [7, 8, 9]
    assert buffer.state is BufferState.PASSTHROUGH


def test_release_rate_follows_the_arrival_rate_with_floor_and_cap() -> None:
    pacing = ReleasePacing(release_rate_factor=2.0, min_release_rate=50.0, max_release_rate=300.0)
    buffer = HandoverBuffer("mn", 0.0, ROOMY, pacing)
    assert buffer.release_rate_pps == 50.0  # no measurement yet: the floor
    for i in range(11):
        buffer.hold(i, 100, i * 0.01)  # 100 pps
    assert buffer.arrival_rate_pps == pytest.approx(100.0)
    assert buffer.release_rate_pps == pytest.approx(200.0)
    for i in range(11, 40):
        buffer.hold(i, 100, 0.1 + (i - 10) * 0.001)  # speeds up to 1000 pps
    assert buffer.release_rate_pps == 300.0


def test_a_deadline_that_rounds_to_now_still_releases() -> None:
    # Arrivals 1e-300 s apart measure as an absurd rate; uncapped, the next
    # token is due at refill time + 1e-300, which is the refill time itself.
    pacing = ReleasePacing(release_rate_factor=2.0, max_release_rate=None, release_burst=1)
    buffer = HandoverBuffer("mn", 0.0, ROOMY, pacing)
    for handle in range(3):
        buffer.hold(handle, 100, handle * 1e-300)
    assert buffer.start_release(1.0) == [0]
    assert buffer.next_deadline() == 1.0
    assert buffer.due(1.0) == [1]
    assert buffer.due(1.0) == [2]


def test_arrivals_during_release_queue_behind_the_backlog() -> None:
    pacing = ReleasePacing(release_rate_factor=0.0, min_release_rate=10.0, release_burst=1)
    run = Run(HandoverBuffer("mn", 0.0, ROOMY, pacing))
    run.arrive(0.0, 1)
    run.arrive(0.1, 2)
    assert run.start_release(1.0) == [1]
    assert run.arrive(1.01, 3) == HELD
    run.advance(1.5)
    assert run.released == [(1.0, 1), (1.1, 2), (pytest.approx(1.2), 3)]


def test_passthrough_releases_at_once_and_the_rule_goes_only_after_idle_close() -> None:
    pacing = ReleasePacing(idle_close=0.1)
    buffer = HandoverBuffer("mn", 0.0, ROOMY, pacing)
    buffer.hold(1, 100, 0.0)
    assert buffer.start_release(1.0) == [1]
    assert buffer.state is BufferState.PASSTHROUGH
    assert buffer.hold(2, 100, 1.05) == RELEASE_NOW
    assert not buffer.should_remove_rule(1.149)
    idle_deadline = buffer.next_deadline()
    assert idle_deadline == pytest.approx(1.15)
    assert buffer.should_remove_rule(idle_deadline)
    buffer.close(1.15)
    assert buffer.state is BufferState.CLOSED
    assert buffer.next_deadline() is None
    # Still in the kernel queue when the rule went: forward it, never hold it.
    assert buffer.hold(3, 100, 1.16) == RELEASE_NOW
    assert buffer.released == 3


def test_empty_buffer_goes_straight_to_passthrough() -> None:
    buffer = HandoverBuffer("mn", 0.0)
    assert buffer.start_release(0.5) == []
    assert buffer.state is BufferState.PASSTHROUGH


def test_close_refuses_while_packets_are_queued() -> None:
    buffer = HandoverBuffer("mn", 0.0)
    buffer.hold(1, 100, 0.0)
    with pytest.raises(InvalidTransition):
        buffer.close(0.1)


# --- limits -------------------------------------------------------------------


def test_per_mn_packet_and_byte_limits_tail_drop() -> None:
    limits = BufferLimits(max_packets_per_mn=2, max_bytes_per_mn=250)
    buffer = HandoverBuffer("mn", 0.0, limits)
    assert buffer.hold(1, 100, 0.0) == HELD
    assert buffer.hold(2, 200, 0.0) == drop(DropReason.PER_MN_BYTES)
    assert buffer.hold(3, 100, 0.0) == HELD
    assert buffer.hold(4, 10, 0.0) == drop(DropReason.PER_MN_PACKETS)
    assert buffer.start_release(1.0) == [1, 3]
    assert buffer.stats(1.0)["dropped"]["per_mn_bytes"] == 1
    assert buffer.stats(1.0)["dropped"]["per_mn_packets"] == 1


def test_total_limits_are_shared_by_the_buffers_of_a_pool() -> None:
    pool = BufferPool(BufferLimits(max_packets_total=3, max_bytes_total=10_000))
    a, b = pool.open("a", 0.0), pool.open("b", 0.0)
    assert a.hold(1, 100, 0.0) == HELD
    assert b.hold(2, 100, 0.0) == HELD
    assert a.hold(3, 100, 0.0) == HELD
    assert b.hold(4, 100, 0.0) == drop(DropReason.TOTAL_PACKETS)
    a.start_release(1.0)
    assert pool.usage.packets == 1
    assert b.hold(5, 9_950, 1.0) == drop(DropReason.TOTAL_BYTES)
    assert b.hold(6, 9_900, 1.0) == HELD
    assert pool.stats(1.0)["total"] == {"packets": 2, "bytes": 10_000, "buffers": 2}


def test_expire_drops_old_packets_and_keeps_the_order_of_the_rest() -> None:
    limits = BufferLimits(hold_time=1.0)
    buffer = HandoverBuffer("mn", 0.0, limits)
    for handle, at in [(1, 0.0), (2, 0.2), (3, 0.5)]:
        buffer.hold(handle, 100, at)
    assert buffer.next_deadline() == 1.0
    assert buffer.expire(0.99) == []
    assert buffer.expire(1.2) == [1, 2]
    assert buffer.next_deadline() == 1.5
    assert buffer.start_release(1.3) == [3]
    assert buffer.stats(1.3)["dropped"]["hold_time_expired"] == 2


def test_expiring_the_whole_backlog_while_releasing_reaches_passthrough() -> None:
    pacing = ReleasePacing(release_rate_factor=0.0, min_release_rate=1.0, release_burst=1)
    buffer = HandoverBuffer("mn", 0.0, BufferLimits(hold_time=1.0), pacing)
    buffer.hold(1, 100, 0.0)
    buffer.hold(2, 100, 0.0)
    assert buffer.start_release(0.5) == [1]
    assert buffer.expire(1.0) == [2]
    assert buffer.state is BufferState.PASSTHROUGH


def test_discard_drops_everything_and_everything_after() -> None:
    buffer = HandoverBuffer("mn", 0.0)
    buffer.hold(1, 100, 0.0)
    buffer.hold(2, 100, 0.1)
    assert buffer.discard(10.0) == [1, 2]
    assert buffer.state is BufferState.DISCARDED
    assert buffer.should_remove_rule(10.0)
    assert buffer.hold(3, 100, 10.01) == drop(DropReason.DISCARDED)
    assert buffer.prepend_handed_back([(4, 100)], 10.02) == [(4, DropReason.DISCARDED)]
    assert buffer.start_release(10.03) == []
    assert buffer.stats(10.03)["dropped"]["discarded"] == 4
    assert buffer.usage.packets == 0


# --- hand-back ----------------------------------------------------------------


def test_handed_back_packets_go_first_in_their_own_order_across_chunks() -> None:
    buffer = HandoverBuffer("mn", 0.0, ROOMY, expect_hand_back=True)
    buffer.hold(10, 100, 0.0)
    buffer.hold(11, 100, 0.01)
    buffer.prepend_handed_back([(1, 100), (2, 100)], 0.02, complete=False)
    buffer.hold(12, 100, 0.03)
    buffer.prepend_handed_back([(3, 100)], 0.04)
    assert buffer.start_release(0.5) == [1, 2, 3, 10, 11, 12]
    assert buffer.stats(0.5)["handed_back"] == 3
    assert buffer.stats(0.5)["handed_back_late"] == 0


def test_release_waits_for_an_expected_hand_back() -> None:
    buffer = HandoverBuffer("mn", 0.0, ROOMY, expect_hand_back=True)
    buffer.hold(10, 100, 0.0)
    assert buffer.start_release(0.1) == []
    assert buffer.awaiting_hand_back
    assert buffer.state is BufferState.HOLDING
    buffer.prepend_handed_back([(1, 100)], 0.12)
    assert buffer.state is BufferState.RELEASING
    assert buffer.due(0.12) == [1, 10]


def test_release_stops_waiting_for_a_hand_back_after_hand_back_wait() -> None:
    pacing = ReleasePacing(hand_back_wait=0.05)
    buffer = HandoverBuffer("mn", 0.0, ROOMY, pacing, expect_hand_back=True)
    buffer.hold(10, 100, 0.0)
    assert buffer.start_release(0.1) == []
    assert buffer.next_deadline() == pytest.approx(0.15)
    assert buffer.due(0.149) == []
    assert buffer.due(buffer.next_deadline()) == [10]
    assert buffer.stats(0.15)["hand_back_timeouts"] == 1


def test_a_late_hand_back_goes_ahead_of_what_is_left_and_is_counted() -> None:
    pacing = ReleasePacing(release_rate_factor=0.0, min_release_rate=10.0, release_burst=1)
    buffer = HandoverBuffer("mn", 0.0, ROOMY, pacing)
    buffer.hold(10, 100, 0.0)
    buffer.hold(11, 100, 0.0)
    assert buffer.start_release(1.0) == [10]
    buffer.prepend_handed_back([(1, 100)], 1.01)
    assert buffer.due(1.1) == [1]
    assert buffer.due(1.2) == [11]
    assert buffer.stats(1.2)["handed_back_late"] == 1


def test_a_hand_back_in_passthrough_restarts_releasing() -> None:
    buffer = HandoverBuffer("mn", 0.0, ROOMY)
    buffer.start_release(1.0)
    assert buffer.state is BufferState.PASSTHROUGH
    buffer.prepend_handed_back([(1, 100)], 1.01)
    assert buffer.state is BufferState.RELEASING
    assert buffer.due(1.01) == [1]
    assert buffer.state is BufferState.PASSTHROUGH


def test_a_hand_back_after_close_is_dropped() -> None:
    buffer = HandoverBuffer("mn", 0.0, ROOMY, ReleasePacing(idle_close=0.0))
    buffer.start_release(1.0)
    buffer.close(1.0)
    assert buffer.prepend_handed_back([(1, 100)], 2.0) == [(1, DropReason.CLOSED)]


def test_hand_back_respects_the_limits() -> None:
    buffer = HandoverBuffer("mn", 0.0, BufferLimits(max_packets_per_mn=2))
    buffer.hold(10, 100, 0.0)
    dropped = buffer.prepend_handed_back([(1, 100), (2, 100)], 0.1)
    assert dropped == [(2, DropReason.PER_MN_PACKETS)]
    assert buffer.start_release(0.2) == [1, 10]


# --- MAG side: the in-flight window -------------------------------------------


def test_mag_hands_everything_back_at_once_in_order() -> None:
    pool = BufferPool(BufferLimits(max_packets_per_mn=100))
    buffer = pool.open("mn", 0.0)
    for handle in range(50):
        buffer.hold(handle, 1200, 0.001 * handle)
    assert buffer.take_all(0.2) == list(range(50))
    assert buffer.state is BufferState.CLOSED
    assert pool.usage.packets == 0
    # A straggler from the kernel queue: the MAG hands it back as well.
    assert buffer.hold(99, 1200, 0.21) == RELEASE_NOW
    assert buffer.take_all(0.3) == []


# --- pool -----------------------------------------------------------------------


def test_pool_reopens_an_active_buffer_in_place_and_replaces_a_finished_one() -> None:
    pool = BufferPool(
        pacing=ReleasePacing(release_rate_factor=0.0, min_release_rate=1.0, release_burst=1)
    )
    first = pool.open("mn", 0.0)
    first.hold(1, 100, 0.0)
    first.hold(2, 100, 0.0)
    assert first.start_release(1.0) == [1]
    # The MN leaves the new MAG before the backlog is out: hold again, keep the order.
    assert pool.open("mn", 1.2) is first
    assert first.state is BufferState.HOLDING
    first.hold(3, 100, 1.3)
    assert first.due(5.0) == []
    assert first.start_release(5.0) == [2]
    assert first.due(6.0) == [3]
    first.close(10.0)
    second = pool.open("mn", 20.0)
    assert second is not first
    assert pool.get("mn") is second
    assert len(pool) == 1


def test_pool_forget_refuses_a_buffer_with_packets() -> None:
    pool = BufferPool()
    pool.open("mn", 0.0).hold(1, 100, 0.0)
    with pytest.raises(InvalidTransition):
        pool.forget("mn")
    pool.get("mn").discard(1.0)
    pool.forget("mn")
    assert pool.get("mn") is None


def test_resume_on_a_finished_buffer_is_refused() -> None:
    buffer = HandoverBuffer("mn", 0.0)
    buffer.discard(1.0)
    with pytest.raises(InvalidTransition):
        buffer.resume_holding(2.0)


def test_pool_next_deadline_is_the_earliest_of_its_buffers() -> None:
    pool = BufferPool(BufferLimits(hold_time=5.0))
    assert pool.next_deadline() is None
    pool.open("a", 0.0).hold(1, 100, 3.0)
    pool.open("b", 0.0).hold(2, 100, 1.0)
    assert pool.next_deadline() == 6.0


def test_stats_are_json_and_report_the_current_release_rate() -> None:
    pool = BufferPool(
        pacing=ReleasePacing(release_rate_factor=2.0, min_release_rate=10.0, release_burst=1)
    )
    buffer = pool.open("mn", 0.0)
    for i in range(5):
        buffer.hold(i, 100, i * 0.01)
    assert pool.stats(0.04)["mns"]["mn"]["release_rate_pps"] == 0.0
    buffer.start_release(0.5)
    stats = json.loads(json.dumps(pool.stats(0.5)))["mns"]["mn"]
    assert stats["state"] == "releasing"
    assert stats["depth"] == 4
    assert stats["peak"] == 5
    assert stats["released"] == 1
    assert stats["arrival_rate_pps"] == pytest.approx(100.0)
    assert stats["release_rate_pps"] == pytest.approx(200.0)
    assert stats["dropped_total"] == 0


# --- properties ------------------------------------------------------------------

arrival_gaps = st.lists(st.floats(min_value=0.0, max_value=0.05), min_size=0, max_size=120)


@settings(max_examples=200, deadline=None)
@given(
    before=arrival_gaps,
    after=arrival_gaps,
    handed_back=st.integers(min_value=0, max_value=20),
    factor=st.floats(min_value=0.0, max_value=4.0),
    burst=st.integers(min_value=1, max_value=16),
    gap=st.floats(min_value=0.0, max_value=3.0),
)
def test_nothing_lost_duplicated_or_reordered_when_limits_do_not_bite(
    before: list[float],
    after: list[float],
    handed_back: int,
    factor: float,
    burst: int,
    gap: float,
) -> None:
    pacing = ReleasePacing(release_rate_factor=factor, min_release_rate=20.0, release_burst=burst)
    run = Run(HandoverBuffer("mn", 0.0, ROOMY, pacing, expect_hand_back=True))
    t, handle, held = 0.0, 1000, []
    for step in before:
        t += step
        run.arrive(t, handle)
        held.append(handle)
        handle += 1
    back = list(range(handed_back))
    run.buffer.prepend_handed_back([(h, 1000) for h in back], t)
    t += gap
    release_at = t
    run.start_release(t)
    for step in after:
        t += step
        run.arrive(t, handle)
        held.append(handle)
        handle += 1
    run.advance(t + 1000.0)

    assert run.released_handles == back + held
    assert run.dropped == []
    assert run.buffer.state is BufferState.CLOSED
    assert run.rule_removed_at is not None
    assert run.buffer.usage.packets == 0 and run.buffer.usage.bytes == 0
    if back or before:
        # Release begins the instant the registration is accepted.
        assert run.released[0][0] == release_at


@settings(max_examples=200, deadline=None)
@given(
    arrivals=st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=0.2), st.integers(1, 1500)),
        max_size=150,
    ),
    release_after=st.integers(min_value=0, max_value=150),
    max_packets=st.integers(min_value=1, max_value=40),
    max_bytes=st.integers(min_value=1500, max_value=40_000),
    hold_time=st.floats(min_value=0.05, max_value=3.0),
)
def test_under_pressure_every_packet_is_accounted_for_once_and_order_holds(
    arrivals: list[tuple[float, int]],
    release_after: int,
    max_packets: int,
    max_bytes: int,
    hold_time: float,
) -> None:
    limits = BufferLimits(
        max_packets_per_mn=max_packets,
        max_bytes_per_mn=max_bytes,
        max_packets_total=10**6,
        max_bytes_total=10**9,
        hold_time=hold_time,
    )
    pacing = ReleasePacing(release_rate_factor=1.2, min_release_rate=20.0, release_burst=4)
    run = Run(HandoverBuffer("mn", 0.0, limits, pacing))
    t = 0.0
    for handle, (step, size) in enumerate(arrivals):
        if handle == release_after:
            run.start_release(t)
        t += step
        run.arrive(t, handle, size)
        assert run.buffer.depth <= max_packets
        assert run.buffer.bytes <= max_bytes
    if release_after >= len(arrivals):
        run.start_release(t)
    run.advance(t + 1000.0)

    released = run.released_handles
    assert sorted(released + run.dropped) == list(range(len(arrivals)))
    assert released == sorted(released)
    stats = run.buffer.stats(run.now)
    assert stats["released"] == len(released)
    assert stats["dropped_total"] == len(run.dropped)


@settings(max_examples=100, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=300),
    rate=st.floats(min_value=1.0, max_value=5000.0),
    burst=st.integers(min_value=1, max_value=64),
)
def test_release_follows_the_token_bucket_and_drains_on_time(
    count: int, rate: float, burst: int
) -> None:
    pacing = ReleasePacing(release_rate_factor=0.0, min_release_rate=rate, release_burst=burst)
    run = Run(HandoverBuffer("mn", 0.0, ROOMY, pacing))
    for handle in range(count):
        run.arrive(0.0, handle)
    start = 1.0
    run.start_release(start)
    run.advance(start + 10_000.0)

    times = [at for at, _ in run.released]
    assert len(times) == count
    for released_so_far, at in enumerate(times, start=1):
        assert released_so_far <= burst + (at - start) * rate + 1e-6
    assert sum(1 for at in times if at == start) == min(count, burst)
    drained = start + max(0, count - burst) / rate
    assert times[-1] == pytest.approx(drained, abs=1e-6)
