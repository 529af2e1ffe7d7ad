"""What a node answers to a Mobility Header it could not decode (RFC 6275 9.2), pure.

The codec says how a message failed (`ProtocolError.reaction`); this module
turns that into at most one answer to the sender, rate-limited as RFC 6275
9.3.3 asks for Binding Errors ("in the same manner as ICMPv6", RFC 4443
2.4 (f): a token bucket). Both roles use it: the daemon hands every decoding
failure to `machine.undecodable(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv6Address

from pmip6d.core.actions import LogEvent, SendMessage, SendParameterProblem
from pmip6d.wire import BindingError, BindingErrorStatus, ProtocolError, Reaction

# RFC 4443 2.4 (f) leaves the numbers to the implementation; these let a burst of
# a few errors through and then one every 100 ms, whatever a flood brings.
ERROR_RATE = 10.0  # answers per second, sustained
ERROR_BURST = 10


@dataclass
class RateLimiter:
    """Token bucket: `burst` answers at once, refilled at `rate` per second."""

    rate: float = ERROR_RATE
    burst: int = ERROR_BURST
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)
    refused: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def allow(self, now: float) -> bool:
        if self.updated is not None and now > self.updated:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now if self.updated is None else max(self.updated, now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.refused += 1
        return False


def answer_undecodable(
    error: ProtocolError,
    src: IPv6Address,
    dst: IPv6Address,
    data: bytes,
    now: float,
    limiter: RateLimiter,
) -> list[SendMessage | SendParameterProblem | LogEvent]:
    """The answer (if any) to the Mobility Header `data` from `src` to `dst` that
    failed to decode with `error`; the message itself is discarded either way."""
    fields = {"from": str(src), "error": error.reason, "reaction": error.reaction.value}
    log = LogEvent("message_undecodable", fields, "warning")
    if error.reaction is Reaction.DISCARD or not _answerable(src):
        return [log]
    if not limiter.allow(now):
        return [LogEvent("error_answer_rate_limited", fields, "debug")]
    if error.reaction is Reaction.BINDING_ERROR:
        # RFC 6275 9.3.3: to the offending packet's source; no Home Address
        # option in PMIPv6 signalling, so the home address is unspecified.
        answer = BindingError(status=BindingErrorStatus.UNRECOGNIZED_MH_TYPE)
        return [log, SendMessage(src, answer)]
    return [log, SendParameterProblem(src, dst, bytes(data), error.pointer or 0)]


def _answerable(src: IPv6Address) -> bool:
    # No error message to an address that names no single node (RFC 4443 2.4 (e)).
    return not (src.is_unspecified or src.is_multicast or src.is_loopback)
