"""RFC 5847 heartbeats between a MAG and its LMA (pure, sans-I/O).

Why: a restarted LMA has lost its binding cache, and without heartbeats a MAG
learns of it only when a refresh is refused or unanswered, up to 0.8 x the
binding lifetime later. With them:

- the MAG asks its LMA for a heartbeat when it starts and every
  `heartbeat_interval` seconds after (RFC 5847 HEARTBEAT_INTERVAL); each
  response carries the LMA's Restart Counter;
- a restarted LMA also announces its new Restart Counter at once, in an
  unsolicited response to every MAG it serves (RFC 5847 section 3.4);
- a MAG that sees the counter change re-registers every MN it serves;
- after `missing_heartbeats_allowed` unanswered requests in a row the MAG
  reports the LMA unreachable (and again reachable when a response comes).

`PeerHeartbeat` is the requesting side's state for one peer; `respond` is the
answering side. A node's Restart Counter is whatever value its daemon chose
at start (pmip6d uses its start time): only a change matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv6Address

from pmip6d.wire import Heartbeat, RestartCounter

_SEQUENCE_MODULO = 1 << 32


class HeartbeatOutcome(StrEnum):
    IGNORED = "ignored"  # not a response to us, or a stale one
    ALIVE = "alive"  # the peer answered, nothing changed
    FIRST_COUNTER = "first_counter"  # the peer's counter, seen for the first time
    RESTARTED = "restarted"  # the peer's counter changed: it lost its state


@dataclass(frozen=True)
class HeartbeatResult:
    outcome: HeartbeatOutcome
    # The peer was reported unreachable and has answered again.
    recovered: bool = False
    previous_counter: int | None = None
    counter: int | None = None


def respond(request: Heartbeat, restart_counter: int) -> Heartbeat:
    """The response to a heartbeat request, carrying our Restart Counter."""
    return Heartbeat(
        sequence=request.sequence, response=True, options=(RestartCounter(restart_counter),)
    )


def announcement(sequence: int, restart_counter: int) -> Heartbeat:
    """The unsolicited response a node sends its peers when it starts."""
    return Heartbeat(
        sequence=sequence % _SEQUENCE_MODULO,
        unsolicited=True,
        response=True,
        options=(RestartCounter(restart_counter),),
    )


class PeerHeartbeat:
    """Heartbeat requests to one peer, and what its responses tell."""

    def __init__(self, peer: IPv6Address, interval: float, missing_allowed: int) -> None:
        self.peer = peer
        self.interval = interval
        self.missing_allowed = missing_allowed
        self.sequence = 0
        self.outstanding: int | None = None
        self.missed = 0
        self.unreachable = False
        self.peer_counter: int | None = None
        self.next_request_at: float | None = None
        self.requests = 0
        self.responses = 0

    def request(self, now: float) -> Heartbeat:
        """A new request (the previous one, if unanswered, counts as missed)."""
        if self.outstanding is not None:
            self.missed += 1
        self.sequence = (self.sequence + 1) % _SEQUENCE_MODULO
        self.outstanding = self.sequence
        self.requests += 1
        self.next_request_at = now + self.interval if self.interval > 0 else None
        return Heartbeat(sequence=self.sequence)

    def due(self, now: float) -> bool:
        return self.next_request_at is not None and now >= self.next_request_at

    def newly_unreachable(self) -> bool:
        """True once, when the missed requests reach the allowed number."""
        if not self.unreachable and self.missed >= self.missing_allowed:
            self.unreachable = True
            return True
        return False

    def on_response(self, message: Heartbeat) -> HeartbeatResult:
        if not message.response:
            return HeartbeatResult(HeartbeatOutcome.IGNORED)
        if not message.unsolicited and message.sequence != self.outstanding:
            return HeartbeatResult(HeartbeatOutcome.IGNORED)
        if not message.unsolicited:
            self.outstanding = None
        self.responses += 1
        self.missed = 0
        recovered = self.unreachable
        self.unreachable = False
        option = message.option(RestartCounter)
        if option is None:
            return HeartbeatResult(HeartbeatOutcome.ALIVE, recovered)
        previous, self.peer_counter = self.peer_counter, option.value
        if previous is None:
            outcome = HeartbeatOutcome.FIRST_COUNTER
        elif previous != option.value:
            outcome = HeartbeatOutcome.RESTARTED
        else:
            outcome = HeartbeatOutcome.ALIVE
        return HeartbeatResult(outcome, recovered, previous, option.value)

    def snapshot(self) -> dict[str, object]:
        return {
            "peer": str(self.peer),
            "peer_restart_counter": self.peer_counter,
            "requests": self.requests,
            "responses": self.responses,
            "missed_in_a_row": self.missed,
            "unreachable": self.unreachable,
        }
