"""Compare what was sent with what arrived: loss, duplicates, reordering, gaps, latency.

Pure functions over a :class:`SendLog` and a :class:`ReceiveLog`; no I/O, no clock.

Definitions:
- sent: datagrams the kernel accepted; a send that failed (``not_sent``) can't be lost.
- received: distinct sent sequence numbers that arrived; ``received + lost == sent``.
- duplicates: arrivals of a sequence number that had already arrived.
- reordered: first arrivals whose sequence number is lower than the highest seen so far.
- unexpected: arrivals whose sequence number the send log does not list as sent.
- longest interruption: the largest gap between consecutive arrival times, all arrivals.
- latency: receive time minus send time of each first arrival (same-host clocks).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from pmip6d.probe.logs import ReceiveLog, SendLog, error_name


class RunMismatch(ValueError):
    """The receive log belongs to another sender run."""


class ArrivalOrder:
    """Duplicates and reordering of a stream of sequence numbers, in arrival order
    (the definitions above); `first(seq)` says whether this is its first arrival."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.duplicates = 0
        self.reordered = 0
        self._highest = -1

    def first(self, seq: int) -> bool:
        if seq in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(seq)
        if seq < self._highest:
            self.reordered += 1
        else:
            self._highest = seq
        return True


@dataclass(frozen=True)
class Report:
    run_id: int
    sent: int
    received: int
    lost: int
    lost_ranges: list[list[int]]
    not_sent: int
    not_sent_ranges: list[list[int]]
    not_sent_errors: dict[str, int]
    duplicates: int
    reordered: int
    unexpected: int
    longest_interruption_ms: float | None
    interruption_after_seq: int | None
    interruption_resumed_seq: int | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    first_send_ns: int | None
    sender: dict = field(default_factory=dict)
    receiver: dict = field(default_factory=dict)

    @property
    def loss_ratio(self) -> float:
        return self.lost / self.sent if self.sent else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "loss_ratio": round(self.loss_ratio, 6)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_text(self) -> str:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f} ms"

        lines = [
            f"run {self.run_id}",
            f"sent        {self.sent}",
            f"received    {self.received}",
            f"lost        {self.lost} ({self.loss_ratio:.3%})"
            f" {_ranges_text(self.lost_ranges)}".rstrip(),
            f"not sent    {self.not_sent} {_errors_text(self.not_sent_errors)}"
            f" {_ranges_text(self.not_sent_ranges)}".rstrip(),
            f"duplicates  {self.duplicates}",
            f"reordered   {self.reordered}",
            f"unexpected  {self.unexpected}",
            f"longest interruption {ms(self.longest_interruption_ms)}"
            + (
                f" (after seq {self.interruption_after_seq},"
                f" resumed with seq {self.interruption_resumed_seq})"
                if self.interruption_after_seq is not None
                else ""
            ),
            f"latency p50 {ms(self.latency_p50_ms)}  p99 {ms(self.latency_p99_ms)}"
            f"  max {ms(self.latency_max_ms)}",
        ]
        return "\n".join(lines)


def _ranges_text(ranges: list[list[int]]) -> str:
    return " ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)


def _errors_text(errors: dict[str, int]) -> str:
    return " ".join(f"{name}={count}" for name, count in sorted(errors.items()))


def to_ranges(numbers: Iterable[int]) -> list[list[int]]:
    """Sorted inclusive ranges covering ``numbers``: [1, 2, 3, 7] -> [[1, 3], [7, 7]]."""
    ranges: list[list[int]] = []
    for number in sorted(set(numbers)):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    return ranges


def percentile(sorted_values: Sequence[int], fraction: float) -> int:
    """Nearest-rank percentile of already sorted values (non-empty)."""
    rank = max(1, math.ceil(len(sorted_values) * fraction))
    return sorted_values[min(len(sorted_values), rank) - 1]


def first_arrivals(received: ReceiveLog) -> dict[int, tuple[int, int]]:
    """Sequence number -> (send_ns, recv_ns) of its first arrival."""
    arrivals: dict[int, tuple[int, int]] = {}
    for seq, send_ns, recv_ns in received.rows():
        if seq not in arrivals:
            arrivals[seq] = (send_ns, recv_ns)
    return arrivals


def _ms(nanoseconds: int | None) -> float | None:
    return None if nanoseconds is None else round(nanoseconds / 1e6, 3)


def analyse(sent: SendLog, received: ReceiveLog) -> Report:
    if received.run_id is not None and received.run_id != sent.run_id:
        raise RunMismatch(
            f"receive log is for run {received.run_id}, send log for run {sent.run_id}"
        )
    sent_ok = {seq for seq, err in zip(sent.seqs, sent.errors, strict=True) if err == 0}
    failed = [(seq, err) for seq, err in zip(sent.seqs, sent.errors, strict=True) if err != 0]

    order = ArrivalOrder()
    unexpected = 0
    latencies: list[int] = []
    for seq, send_ns, recv_ns in received.rows():
        if not order.first(seq):
            continue
        if seq not in sent_ok:
            unexpected += 1
            continue
        latencies.append(recv_ns - send_ns)

    lost = sent_ok - order.seen
    gap, after_seq, resumed_seq = _longest_interruption(received)
    latencies.sort()
    return Report(
        run_id=sent.run_id,
        sent=len(sent_ok),
        received=len(sent_ok) - len(lost),
        lost=len(lost),
        lost_ranges=to_ranges(lost),
        not_sent=len(failed),
        not_sent_ranges=to_ranges(seq for seq, _ in failed),
        not_sent_errors=dict(Counter(error_name(err) for _, err in failed)),
        duplicates=order.duplicates,
        reordered=order.reordered,
        unexpected=unexpected,
        longest_interruption_ms=_ms(gap),
        interruption_after_seq=after_seq,
        interruption_resumed_seq=resumed_seq,
        latency_p50_ms=_ms(percentile(latencies, 0.50)) if latencies else None,
        latency_p99_ms=_ms(percentile(latencies, 0.99)) if latencies else None,
        latency_max_ms=_ms(latencies[-1]) if latencies else None,
        first_send_ns=min(sent.send_ns) if len(sent) else None,
        sender=dict(sent.summary),
        receiver=dict(received.summary),
    )


def _longest_interruption(received: ReceiveLog) -> tuple[int | None, int | None, int | None]:
    """Largest gap between consecutive arrivals, with the sequence numbers around it."""
    if len(received) < 2:
        return None, None, None
    # Sorted by arrival time: the log is in arrival order, but a user-space fallback
    # timestamp may be taken slightly out of order.
    order = sorted(range(len(received)), key=received.recv_ns.__getitem__)
    best = best_before = best_after = -1
    for before, after in zip(order, order[1:], strict=False):
        gap = received.recv_ns[after] - received.recv_ns[before]
        if gap > best:
            best, best_before, best_after = gap, before, after
    return best, received.seqs[best_before], received.seqs[best_after]
