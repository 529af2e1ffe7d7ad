"""The per-datagram timeline: one row per sequence number the sender attempted.

Times are milliseconds since the run's first send, which plots directly
(x = send_ms or seq, y = recv_ms or latency_ms); a lost or unsent datagram has
empty receive columns. Absolute times stay in the logs.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from pmip6d.probe.analysis import first_arrivals
from pmip6d.probe.logs import ReceiveLog, SendLog, error_name

COLUMNS = ("seq", "send_ms", "recv_ms", "latency_ms", "status")


@dataclass(frozen=True, slots=True)
class TimelineRow:
    seq: int
    send_ms: float
    recv_ms: float | None
    latency_ms: float | None
    status: str  # "received", "lost" or "not_sent:<ERRNO>"


def build_timeline(sent: SendLog, received: ReceiveLog) -> list[TimelineRow]:
    if not len(sent):
        return []
    origin = min(sent.send_ns)
    arrivals = first_arrivals(received)
    rows = []
    for seq, send_ns, err in zip(sent.seqs, sent.send_ns, sent.errors, strict=True):
        send_ms = round((send_ns - origin) / 1e6, 6)
        arrival = arrivals.get(seq) if err == 0 else None
        if err:
            rows.append(TimelineRow(seq, send_ms, None, None, f"not_sent:{error_name(err)}"))
        elif arrival is None:
            rows.append(TimelineRow(seq, send_ms, None, None, "lost"))
        else:
            _, recv_ns = arrival
            rows.append(
                TimelineRow(
                    seq,
                    send_ms,
                    round((recv_ns - origin) / 1e6, 6),
                    round((recv_ns - send_ns) / 1e6, 6),
                    "received",
                )
            )
    return rows


def write_timeline_csv(rows: list[TimelineRow], path: str | Path) -> None:
    with open(path, "w", newline="", encoding="ascii") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(
                (
                    row.seq,
                    row.send_ms,
                    "" if row.recv_ms is None else row.recv_ms,
                    "" if row.latency_ms is None else row.latency_ms,
                    row.status,
                )
            )
