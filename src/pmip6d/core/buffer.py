"""Handover packet buffer: what to hold, drop and release, and when (pure, sans-I/O).

The engine sees opaque packet handles (ints the adapter maps to NFQUEUE packets
or raw bytes) and their sizes; it never touches a packet, a socket or a clock.
Every method takes `now` (seconds, the caller's clock). docs/buffering.md
explains the mechanism around it; this module is the decision part:

- `HandoverBuffer`: one per mobile node. At the LMA it holds the MN's packets
  from the accepted de-registration to the new registration, puts packets the
  previous MAG hands back at its head, then releases everything in FIFO order,
  paced by a token bucket tied to the measured arrival rate, and finally passes
  packets straight through until the flow has been idle long enough to remove
  the kernel rule without reordering. At the previous MAG the same class holds
  the in-flight window and `take_all` hands it back in one piece.
- `BufferPool`: the per-MN buffers of one node and the node-wide limits.

The adapter's loop, for every buffer: feed each queued packet to `hold`; at
`next_deadline()` call `expire`, then `due`; remove the kernel rule and call
`close` when `should_remove_rule` says so.

The limits and the pacing are the configuration's own dataclasses
(`pmip6d.config.BufferLimits`, `ReleasePacing`): one set of names and
defaults for the configuration file, the engine and the docs.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pmip6d.config import BufferLimits, ProtocolConstants, ReleasePacing

Handle = int

# Token counts are floats; a deadline computed as "when the next token is due"
# may land a hair before it after rounding, which must still release it.
_TOKEN_EPSILON = 1e-6


class BufferState(StrEnum):
    HOLDING = "holding"
    RELEASING = "releasing"
    PASSTHROUGH = "passthrough"
    CLOSED = "closed"
    DISCARDED = "discarded"


class DropReason(StrEnum):
    PER_MN_PACKETS = "per_mn_packets"
    PER_MN_BYTES = "per_mn_bytes"
    TOTAL_PACKETS = "total_packets"
    TOTAL_BYTES = "total_bytes"
    HOLD_TIME_EXPIRED = "hold_time_expired"
    DISCARDED = "discarded"
    # A hand-back that arrived after the buffer had closed: its rule is gone.
    CLOSED = "closed"


class VerdictAction(StrEnum):
    HOLD = "hold"  # queued; it comes out of due() or take_all() later
    RELEASE = "release"  # forward it now (nothing is queued ahead of it)
    DROP = "drop"


@dataclass(frozen=True)
class Verdict:
    action: VerdictAction
    reason: DropReason | None = None


HELD = Verdict(VerdictAction.HOLD)
RELEASE_NOW = Verdict(VerdictAction.RELEASE)


class InvalidTransition(RuntimeError):
    """A call that would lose or reorder queued packets (an adapter bug)."""


class ArrivalRateEstimator:
    """Packets per second, as a recency-weighted count over a recency-weighted time.

    Each inter-arrival interval and its packet are weighted by exp(-age /
    window); the estimate is weighted packets / weighted seconds, so a constant
    rate is measured exactly from the second packet on, and a silence counts
    as the long interval it is. Simultaneous arrivals (a burst read in one go)
    add packets but no time.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._last: float | None = None
        self._packets = 0.0
        self._seconds = 0.0

    def observe(self, now: float) -> None:
        last = self._last
        if last is None:
            self._last = now
            return
        if now <= last:
            # Read in the same burst: a packet, no time (and no decay to compute).
            self._packets += 1.0
            return
        interval = now - last
        decay = math.exp(-interval / self.window)
        self._packets = self._packets * decay + 1.0
        self._seconds = self._seconds * decay + interval
        self._last = now

    @property
    def rate_pps(self) -> float | None:
        """None until two arrivals at different times have been seen."""
        if self._seconds <= 0.0:
            return None
        return self._packets / self._seconds


@dataclass
class PoolUsage:
    """What all buffers of one node hold right now (shared, for the total limits)."""

    packets: int = 0
    bytes: int = 0


@dataclass(slots=True)
class _Queued:
    handle: Handle
    size: int
    held_at: float
    handed_back: bool


class HandoverBuffer:
    """One MN's buffer: HOLDING -> RELEASING -> PASSTHROUGH -> CLOSED, or -> DISCARDED."""

    def __init__(
        self,
        mn_id: str,
        now: float,
        limits: BufferLimits | None = None,
        pacing: ReleasePacing | None = None,
        *,
        usage: PoolUsage | None = None,
        expect_hand_back: bool = False,
    ) -> None:
        self.mn_id = mn_id
        self.limits = _resolved(limits)
        self.pacing = pacing or ReleasePacing()
        self.usage = usage if usage is not None else PoolUsage()
        self.opened_at = now
        self.state = BufferState.HOLDING
        self._queue: deque[_Queued] = deque()
        self._bytes = 0
        # Handed-back packets form a contiguous block at the head of the queue;
        # a further hand-back chunk goes right behind the earlier ones.
        self._handed_back_queued = 0
        self._awaiting_hand_back = expect_hand_back
        self._release_requested_at: float | None = None
        self._arrivals = ArrivalRateEstimator(self.pacing.rate_window)
        self._last_arrival: float | None = None
        self._passthrough_since = now
        self._tokens = 0.0
        self._refilled_at = now
        self.peak = 0
        self.peak_bytes = 0
        self.held_total = 0
        self.handed_back = 0
        self.handed_back_late = 0
        self.hand_back_timeouts = 0
        self.released = 0
        self.dropped: Counter[DropReason] = Counter()

    # --- queries ---------------------------------------------------------

    @property
    def depth(self) -> int:
        return len(self._queue)

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def awaiting_hand_back(self) -> bool:
        return self._awaiting_hand_back

    @property
    def arrival_rate_pps(self) -> float | None:
        return self._arrivals.rate_pps

    @property
    def release_rate_pps(self) -> float:
        """The pacing rate that applies now, whether or not the buffer is releasing."""
        measured = self._arrivals.rate_pps or 0.0
        pacing = self.pacing
        rate = max(pacing.min_release_rate, pacing.release_rate_factor * measured)
        if pacing.max_release_rate is not None:
            rate = min(rate, pacing.max_release_rate)
        return rate

    def should_remove_rule(self, now: float) -> bool:
        """True once the kernel rule can go: idle in passthrough, or discarded."""
        if self.state is BufferState.DISCARDED:
            return True
        if self.state is not BufferState.PASSTHROUGH:
            return False
        # Same sum as next_deadline, so the deadline and the check agree to the bit.
        return now >= self._quiet_since() + self.pacing.idle_close

    def next_deadline(self) -> float | None:
        """When to call expire/due (or check should_remove_rule) next; None if never."""
        deadlines: list[float] = []
        if self.state is BufferState.HOLDING and self._waiting_for_hand_back():
            assert self._release_requested_at is not None
            deadlines.append(self._release_requested_at + self.pacing.hand_back_wait)
        if self.state in (BufferState.HOLDING, BufferState.RELEASING) and self._queue:
            deadlines.append(self._oldest_held_at() + self.limits.hold_time)
        if self.state is BufferState.RELEASING and self._queue:
            deadlines.append(self._next_token_at())
        if self.state is BufferState.PASSTHROUGH:
            deadlines.append(self._quiet_since() + self.pacing.idle_close)
        return min(deadlines) if deadlines else None

    def stats(self, now: float) -> dict[str, Any]:
        releasing = self.state is BufferState.RELEASING
        return {
            "mn_id": self.mn_id,
            "state": self.state.value,
            "age": now - self.opened_at,
            "depth": self.depth,
            "bytes": self._bytes,
            "peak": self.peak,
            "peak_bytes": self.peak_bytes,
            "held_total": self.held_total,
            "handed_back": self.handed_back,
            "handed_back_late": self.handed_back_late,
            "awaiting_hand_back": self._awaiting_hand_back,
            "hand_back_timeouts": self.hand_back_timeouts,
            "released": self.released,
            "dropped": {reason.value: self.dropped[reason] for reason in DropReason},
            "dropped_total": sum(self.dropped.values()),
            "release_rate_pps": self.release_rate_pps if releasing else 0.0,
            "arrival_rate_pps": self._arrivals.rate_pps,
        }

    # --- inputs ----------------------------------------------------------

    def hold(self, handle: Handle, size: int, now: float) -> Verdict:
        """A packet for this MN came out of the kernel queue."""
        self._arrivals.observe(now)
        self._last_arrival = now
        if self.state is BufferState.DISCARDED:
            self.dropped[DropReason.DISCARDED] += 1
            return Verdict(VerdictAction.DROP, DropReason.DISCARDED)
        if self.state in (BufferState.PASSTHROUGH, BufferState.CLOSED):
            # Nothing is queued ahead of it. In CLOSED it was already in the
            # kernel queue when the rule went; holding it now would only delay it.
            self.released += 1
            return RELEASE_NOW
        reason = self._over_limit(size)
        if reason is not None:
            self.dropped[reason] += 1
            return Verdict(VerdictAction.DROP, reason)
        self._enqueue(len(self._queue), _Queued(handle, size, now, handed_back=False))
        self.held_total += 1
        return HELD

    def prepend_handed_back(
        self, packets: Iterable[tuple[Handle, int]], now: float, *, complete: bool = True
    ) -> list[tuple[Handle, DropReason]]:
        """Packets the previous MAG held for the MN go ahead of everything held here.

        The correspondent sent them before anything this buffer holds. Pass
        `complete=False` for all but the last chunk of a multi-message
        hand-back. Returns the packets dropped (over a limit, or too late).
        """
        if self.state in (BufferState.CLOSED, BufferState.DISCARDED):
            reason = DropReason.CLOSED if self.state is BufferState.CLOSED else DropReason.DISCARDED
            dropped = [(handle, reason) for handle, _ in packets]
            self.dropped[reason] += len(dropped)
            return dropped
        late = self.state is not BufferState.HOLDING
        dropped = []
        accepted = 0
        for handle, size in packets:
            reason = self._over_limit(size)
            if reason is not None:
                self.dropped[reason] += 1
                dropped.append((handle, reason))
                continue
            entry = _Queued(handle, size, now, handed_back=True)
            self._enqueue(self._handed_back_queued, entry)
            self._handed_back_queued += 1
            accepted += 1
        self.handed_back += accepted
        if late:
            # Packets newer than these have already left: they arrive reordered.
            self.handed_back_late += accepted
        if self.state is BufferState.PASSTHROUGH and accepted:
            self._begin_releasing(now)
        if complete and self._awaiting_hand_back:
            self._awaiting_hand_back = False
            if self._release_requested_at is not None and self.state is BufferState.HOLDING:
                self._begin_releasing(now)
        return dropped

    def start_release(self, now: float) -> list[Handle]:
        """The new registration is accepted and the route points to the new MAG.

        Returns the first burst, to forward at once (empty while an expected
        hand-back is outstanding; `due` then releases when it arrives or times out).
        """
        if self.state is BufferState.HOLDING:
            self._release_requested_at = now
            if self._awaiting_hand_back:
                return []
            self._begin_releasing(now)
        return self.due(now)

    def due(self, now: float) -> list[Handle]:
        """Handles to forward now, oldest first, as the pacing allows."""
        if self._waiting_for_hand_back() and self.state is BufferState.HOLDING:
            assert self._release_requested_at is not None
            if now >= self._release_requested_at + self.pacing.hand_back_wait:
                self._awaiting_hand_back = False
                self.hand_back_timeouts += 1
                self._begin_releasing(now)
        if self.state is not BufferState.RELEASING:
            return []
        token_was_due = bool(self._queue) and now >= self._next_token_at()
        elapsed = max(0.0, now - self._refilled_at)
        self._tokens = min(
            float(self.pacing.release_burst), self._tokens + elapsed * self.release_rate_pps
        )
        self._refilled_at = max(self._refilled_at, now)
        count = min(len(self._queue), int(self._tokens + _TOKEN_EPSILON))
        if token_was_due and count == 0:
            # The deadline rounded to `now` itself (a huge rate at a large `now`):
            # honour it, or the caller's timer would fire forever without progress.
            count = 1
        self._tokens = max(0.0, self._tokens - count)
        released = [self._dequeue() for _ in range(count)]
        self.released += count
        if not self._queue:
            self.state = BufferState.PASSTHROUGH
            self._passthrough_since = now
        return released

    def expire(self, now: float) -> list[Handle]:
        """Drop queued packets held for hold_time or longer; the rest keep their order."""
        if not self._queue:
            return []
        limit = self.limits.hold_time
        if now < self._oldest_held_at() + limit:
            return []
        expired = [entry for entry in self._queue if now >= entry.held_at + limit]
        if not expired:
            return []
        kept = [entry for entry in self._queue if now < entry.held_at + limit]
        self._replace_queue(kept)
        self.dropped[DropReason.HOLD_TIME_EXPIRED] += len(expired)
        if self.state is BufferState.RELEASING and not kept:
            self.state = BufferState.PASSTHROUGH
            self._passthrough_since = now
        return [entry.handle for entry in expired]

    def discard(self, now: float) -> list[Handle]:
        """The binding was deleted without the MN coming back: drop everything."""
        if self.state is BufferState.CLOSED:
            return []
        handles = [entry.handle for entry in self._queue]
        self._replace_queue([])
        self.dropped[DropReason.DISCARDED] += len(handles)
        self.state = BufferState.DISCARDED
        self._awaiting_hand_back = False
        return handles

    def take_all(self, now: float) -> list[Handle]:
        """Everything held, oldest first, at once; the buffer closes (MAG hand-back).

        A packet that still reaches `hold` afterwards gets RELEASE: at the MAG
        that means "hand it back too".
        """
        if self.state in (BufferState.CLOSED, BufferState.DISCARDED):
            return []
        handles = [self._dequeue() for _ in range(len(self._queue))]
        self.released += len(handles)
        self.state = BufferState.CLOSED
        self._awaiting_hand_back = False
        return handles

    def close(self, now: float) -> None:
        """The adapter removed the kernel rule (after should_remove_rule)."""
        if self.state is BufferState.CLOSED:
            return
        if self.state is not BufferState.PASSTHROUGH:
            raise InvalidTransition(f"{self.mn_id}: close in state {self.state.value}")
        self.state = BufferState.CLOSED

    def resume_holding(self, now: float, *, expect_hand_back: bool = False) -> None:
        """The MN left again before this buffer closed: hold anew, queue kept in place."""
        if self.state in (BufferState.CLOSED, BufferState.DISCARDED):
            raise InvalidTransition(f"{self.mn_id}: resume in state {self.state.value}")
        self.state = BufferState.HOLDING
        self._release_requested_at = None
        self._awaiting_hand_back = expect_hand_back

    # --- internals -------------------------------------------------------

    def _oldest_held_at(self) -> float:
        """O(1): the queue is two blocks, handed-back packets then held ones, each
        in the order it was queued, so the oldest entry heads one of them.
        (This runs on every packet; a scan would make holding quadratic.)"""
        oldest = self._queue[0].held_at
        if self._handed_back_queued < len(self._queue):
            oldest = min(oldest, self._queue[self._handed_back_queued].held_at)
        return oldest

    def _waiting_for_hand_back(self) -> bool:
        return self._awaiting_hand_back and self._release_requested_at is not None

    def _quiet_since(self) -> float:
        if self._last_arrival is None:
            return self._passthrough_since
        return max(self._last_arrival, self._passthrough_since)

    def _next_token_at(self) -> float:
        missing = 1.0 - self._tokens
        if missing <= _TOKEN_EPSILON:
            return self._refilled_at
        return self._refilled_at + missing / self.release_rate_pps

    def _begin_releasing(self, now: float) -> None:
        self.state = BufferState.RELEASING
        self._tokens = float(self.pacing.release_burst)
        self._refilled_at = now

    def _over_limit(self, size: int) -> DropReason | None:
        limits = self.limits
        if len(self._queue) + 1 > limits.max_packets_per_mn:
            return DropReason.PER_MN_PACKETS
        if self._bytes + size > limits.max_bytes_per_mn:
            return DropReason.PER_MN_BYTES
        if self.usage.packets + 1 > limits.max_packets_total:
            return DropReason.TOTAL_PACKETS
        if self.usage.bytes + size > limits.max_bytes_total:
            return DropReason.TOTAL_BYTES
        return None

    def _enqueue(self, position: int, entry: _Queued) -> None:
        if position == len(self._queue):
            self._queue.append(entry)  # the common case, and O(1) unlike insert
        else:
            self._queue.insert(position, entry)
        # Runs once per held packet: plain comparisons, not max() calls.
        self._bytes += entry.size
        self.usage.packets += 1
        self.usage.bytes += entry.size
        if len(self._queue) > self.peak:
            self.peak = len(self._queue)
        if self._bytes > self.peak_bytes:
            self.peak_bytes = self._bytes

    def _dequeue(self) -> Handle:
        entry = self._queue.popleft()
        self._bytes -= entry.size
        self.usage.packets -= 1
        self.usage.bytes -= entry.size
        if entry.handed_back:
            self._handed_back_queued -= 1
        return entry.handle

    def _replace_queue(self, kept: list[_Queued]) -> None:
        kept_bytes = sum(entry.size for entry in kept)
        self.usage.packets -= len(self._queue) - len(kept)
        self.usage.bytes -= self._bytes - kept_bytes
        self._queue = deque(kept)
        self._bytes = kept_bytes
        self._handed_back_queued = sum(1 for entry in kept if entry.handed_back)


class BufferPool:
    """The buffers of one node (LMA or MAG), sharing the node-wide limits.

    A buffer stays in the pool after it closes or is discarded, so its counters
    remain visible in status output until the MN's next handover replaces it.
    """

    def __init__(self, limits: BufferLimits | None = None, pacing: ReleasePacing | None = None):
        self.limits = _resolved(limits)
        self.pacing = pacing or ReleasePacing()
        self.usage = PoolUsage()
        self._buffers: dict[str, HandoverBuffer] = {}

    def open(self, mn_id: str, now: float, *, expect_hand_back: bool = False) -> HandoverBuffer:
        """Start holding for `mn_id`; a buffer still active resumes holding in place."""
        existing = self._buffers.get(mn_id)
        if existing is not None and existing.state not in (
            BufferState.CLOSED,
            BufferState.DISCARDED,
        ):
            existing.resume_holding(now, expect_hand_back=expect_hand_back)
            return existing
        buffer = HandoverBuffer(
            mn_id,
            now,
            self.limits,
            self.pacing,
            usage=self.usage,
            expect_hand_back=expect_hand_back,
        )
        self._buffers[mn_id] = buffer
        return buffer

    def get(self, mn_id: str) -> HandoverBuffer | None:
        return self._buffers.get(mn_id)

    def forget(self, mn_id: str) -> None:
        """Drop a finished buffer's record; refuses one that still holds packets."""
        buffer = self._buffers.get(mn_id)
        if buffer is not None and buffer.depth:
            raise InvalidTransition(f"{mn_id}: forget with {buffer.depth} packets queued")
        self._buffers.pop(mn_id, None)

    def __iter__(self) -> Iterator[HandoverBuffer]:
        return iter(list(self._buffers.values()))

    def __len__(self) -> int:
        return len(self._buffers)

    def next_deadline(self) -> float | None:
        deadlines = [d for b in self._buffers.values() if (d := b.next_deadline()) is not None]
        return min(deadlines) if deadlines else None

    def stats(self, now: float) -> dict[str, Any]:
        return {
            "total": {
                "packets": self.usage.packets,
                "bytes": self.usage.bytes,
                "buffers": len(self._buffers),
            },
            "mns": {mn_id: buffer.stats(now) for mn_id, buffer in self._buffers.items()},
        }


def _resolved(limits: BufferLimits | None) -> BufferLimits:
    """`limits` (default: the configuration's) with a concrete hold time: a node
    passes its own MinDelayBeforeBCEDelete; without one, the RFC's applies."""
    return (limits or BufferLimits()).with_hold_time(ProtocolConstants())
