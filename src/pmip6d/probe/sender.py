"""Send sequence-numbered UDP datagrams at a fixed rate for a bounded time.

Pacing uses absolute deadlines on the monotonic clock: datagram ``n`` is due at
``start + n * 1e9 / rate`` ns. Sleeping ``1/rate`` per datagram would accumulate
the scheduler's lateness; absolute deadlines do not. The sender sleeps until
50 us before each deadline and busy-waits only that last stretch: a sender
that spins through whole intervals takes a core for itself, and on a small
machine that CPU is taken from the daemons whose handover it measures. At
high rates a sleep overshoots the interval, and the datagrams due by then go
back to back (micro-bursts of one or two at 10,000/s). When the sender falls
behind (descheduled, slow send), it sends the overdue datagrams back to back
and counts them as late, so the schedule is kept on average.

A failing send (no route during a handover, ENOBUFS under a burst, ...) is recorded
with its errno for that sequence number and the run continues.
"""

from __future__ import annotations

import ipaddress
import math
import random
import socket
import threading
import time

from pmip6d.probe.logs import SendLog
from pmip6d.probe.packet import DEFAULT_SIZE, make_buffer, write_header

# Sleep only when the next deadline is further than this; below it, spin.
_SPIN_THRESHOLD_NS = 60_000
# Wake this long before the deadline to absorb the kernel's timer slack (50 us).
_SLEEP_MARGIN_NS = 50_000
# A datagram later than this behind its deadline counts as late (sent to catch up).
LATE_THRESHOLD_NS = 1_000_000
# Catching up may run past the nominal duration by at most this much.
_OVERRUN_ALLOWANCE_S = 1.0
_SEND_BUFFER_BYTES = 4 * 1024 * 1024


def new_run_id() -> int:
    return random.SystemRandom().randrange(1, 2**32)


def socket_family(address: str) -> socket.AddressFamily:
    """AF_INET6 or AF_INET for an IP literal; ValueError for anything else."""
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    return socket.AF_INET6 if parsed.version == 6 else socket.AF_INET


def planned_count(rate: float, duration: float | None, count: int | None) -> int:
    """How many datagrams a run sends: the count, the duration's worth, or the smaller."""
    if duration is None and count is None:
        raise ValueError("give a duration, a count, or both")
    by_duration = math.floor(rate * duration + 1e-9) if duration is not None else None
    if by_duration is None:
        return count
    if count is None:
        return by_duration
    return min(count, by_duration)


class Sender:
    """Send ``rate`` datagrams/s to ``dst``:``port`` for ``duration`` s and/or ``count`` datagrams.

    ``run()`` blocks and returns the :class:`SendLog`; ``stop()`` ends it early from
    another thread or a signal handler.
    """

    def __init__(
        self,
        dst: str,
        port: int,
        rate: float,
        duration: float | None = None,
        count: int | None = None,
        size: int = DEFAULT_SIZE,
        run_id: int | None = None,
    ) -> None:
        if not rate > 0 or not math.isfinite(rate):
            raise ValueError(f"rate must be a positive number of datagrams/s, got {rate}")
        if duration is not None and (not duration > 0 or not math.isfinite(duration)):
            raise ValueError(f"duration must be positive seconds, got {duration}")
        if count is not None and count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be 1..65535, got {port}")
        if run_id is not None and not 0 <= run_id < 2**32:
            raise ValueError(f"run id must be 0..{2**32 - 1}, got {run_id}")
        self.family = socket_family(dst)
        self.dst = dst
        self.port = port
        self.rate = rate
        self.count = planned_count(rate, duration, count)
        if self.count < 1:
            raise ValueError(f"{rate}/s for {duration} s is less than one datagram")
        self.size = size
        self.run_id = new_run_id() if run_id is None else run_id
        self._buffer = make_buffer(size)
        # Bounded in time as well as in datagrams, whatever the scheduler does.
        self.time_limit_s = self.count / rate + _OVERRUN_ALLOWANCE_S
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> SendLog:
        log = SendLog(
            run_id=self.run_id,
            meta={
                "dst": self.dst,
                "port": self.port,
                "rate": self.rate,
                "size": self.size,
                "planned": self.count,
            },
        )
        with socket.socket(self.family, socket.SOCK_DGRAM) as sock:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER_BYTES)
            except OSError:
                pass  # the default buffer still works, only bursts block sooner
            summary = self._send_all(sock, log)
        log.summary = summary
        return log

    def _send_all(self, sock: socket.socket, log: SendLog) -> dict:
        address = (self.dst, self.port)
        buffer = self._buffer
        run_id = self.run_id
        interval_ns = 1e9 / self.rate
        monotonic_ns = time.monotonic_ns
        realtime_ns = time.time_ns
        sendto = sock.sendto
        stop = self._stop
        append = log.append
        late = 0
        max_lag_ns = 0
        errors = 0
        stopped_early = False

        start = monotonic_ns()
        time_limit_ns = start + int(self.time_limit_s * 1e9)
        for seq in range(self.count):
            deadline = start + int(seq * interval_ns)
            now = monotonic_ns()
            remaining = deadline - now
            if remaining > _SPIN_THRESHOLD_NS:
                # Checked here, not per datagram, so the hot path stays short.
                if stop.is_set():
                    stopped_early = True
                    break
                time.sleep((remaining - _SLEEP_MARGIN_NS) / 1e9)
            while monotonic_ns() < deadline:
                pass
            now = monotonic_ns()
            lag = now - deadline
            if lag > LATE_THRESHOLD_NS:
                late += 1
                if lag > max_lag_ns:
                    max_lag_ns = lag
                if now > time_limit_ns or stop.is_set():
                    stopped_early = True
                    break
            send_ns = realtime_ns()
            write_header(buffer, run_id, seq, send_ns)
            try:
                sendto(buffer, address)
            except OSError as exc:
                errors += 1
                append(seq, send_ns, exc.errno or -1)
            else:
                append(seq, send_ns, 0)
            if seq & 0x3FF == 0 and stop.is_set():
                stopped_early = True
                break
        elapsed_s = (monotonic_ns() - start) / 1e9
        attempted = len(log)
        return {
            "attempted": attempted,
            "sent": attempted - errors,
            "send_errors": errors,
            "late": late,
            "max_lag_ms": round(max_lag_ns / 1e6, 3),
            "elapsed_s": round(elapsed_s, 6),
            "achieved_rate": round(attempted / elapsed_s, 1) if elapsed_s > 0 else None,
            "stopped_early": stopped_early,
        }
