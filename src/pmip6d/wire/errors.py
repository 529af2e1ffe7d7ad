"""The one exception decoding raises, and what RFC 6275 section 9.2 says to do about it."""

from __future__ import annotations

from enum import StrEnum

from .codes import Status


class Reaction(StrEnum):
    """What a receiver does with a Mobility Header it cannot use (RFC 6275 9.2).

    Every reaction discards the message; some also answer the sender. Answers
    are the caller's to send (and to rate-limit): the codec does no I/O.
    """

    # Discard without a word: a bad checksum, a malformed option.
    DISCARD = "discard"
    # Discard and SHOULD send ICMPv6 Parameter Problem, code 0, whose pointer
    # names the offending octet (`ProtocolError.pointer`, counted from the
    # start of the Mobility Header): a Payload Proto other than 59, a Header
    # Len too short for the MH type.
    PARAMETER_PROBLEM = "parameter_problem"
    # Discard and send a Binding Error with status 2 (unrecognized MH type).
    BINDING_ERROR = "binding_error"


class ProtocolError(Exception):
    """Malformed or unacceptable Mobility Header.

    `status` is the PBA status to answer with. RFC 6275 answers a malformed
    Mobility Header with ICMP Parameter Problem or a Binding Error rather than
    a status: `reaction` says which (with `pointer` for the former); the codec
    carries REASON_UNSPECIFIED (128) as `status` for those so the caller has
    one uniform value to log.
    """

    def __init__(
        self,
        status: Status,
        reason: str,
        reaction: Reaction = Reaction.DISCARD,
        pointer: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = Status(status)
        self.reason = reason
        self.reaction = Reaction(reaction)
        self.pointer = pointer

    def __str__(self) -> str:
        return f"{self.reason} (status {int(self.status)} {self.status.name})"


def malformed(reason: str) -> ProtocolError:
    return ProtocolError(Status.REASON_UNSPECIFIED, reason)


def parameter_problem(reason: str, pointer: int) -> ProtocolError:
    return ProtocolError(Status.REASON_UNSPECIFIED, reason, Reaction.PARAMETER_PROBLEM, pointer)


def unrecognized_type(reason: str) -> ProtocolError:
    return ProtocolError(Status.REASON_UNSPECIFIED, reason, Reaction.BINDING_ERROR)
