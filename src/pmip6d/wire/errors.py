"""The one exception decoding raises."""

from .codes import Status


class ProtocolError(Exception):
    """Malformed or unacceptable Mobility Header.

    `status` is the PBA status to answer with. RFC 6275 answers a malformed
    Mobility Header with ICMP Parameter Problem rather than a status; the
    codec carries REASON_UNSPECIFIED (128) for those so the caller has one
    uniform value to log or to answer with.
    """

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = Status(status)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason} (status {int(self.status)} {self.status.name})"


def malformed(reason: str) -> ProtocolError:
    return ProtocolError(Status.REASON_UNSPECIFIED, reason)
