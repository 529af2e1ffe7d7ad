"""What the sender sent and the receiver got, in memory and on disk.

On disk both logs are CSV framed by two JSON comment lines, so they load in any
spreadsheet or pandas (``comment="#"``) yet carry their metadata:

    #pmip6-probe send {"format": 1, "run_id": 7, ...}
    seq,send_ns,error
    0,1700000000000000000,
    1,1700000000000100000,ENETUNREACH
    #summary {"sent": 1, "send_errors": 1, ...}

``error`` is empty when the datagram was handed to the kernel, otherwise the errno
name of the failed send ("not sent"). The receive log has ``seq,send_ns,recv_ns``
rows in arrival order, duplicates included.
"""

from __future__ import annotations

import errno
import json
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 1
SEND_KIND = "send"
RECEIVE_KIND = "recv"
SEND_COLUMNS = "seq,send_ns,error"
RECEIVE_COLUMNS = "seq,send_ns,recv_ns"


class LogFormatError(ValueError):
    """A log file is missing, unreadable or not in the expected format."""


@dataclass
class SendLog:
    """One row per attempted datagram; ``errors[i]`` is 0 or the errno of a failed send."""

    run_id: int
    seqs: array = field(default_factory=lambda: array("Q"))
    send_ns: array = field(default_factory=lambda: array("q"))
    errors: array = field(default_factory=lambda: array("i"))
    meta: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, run_id: int, rows, **meta: Any) -> SendLog:
        """Build from ``(seq, send_ns)`` or ``(seq, send_ns, errno)`` tuples."""
        log = cls(run_id=run_id, meta=dict(meta))
        for row in rows:
            log.append(row[0], row[1], row[2] if len(row) > 2 else 0)
        return log

    def append(self, seq: int, send_ns: int, error: int = 0) -> None:
        self.seqs.append(seq)
        self.send_ns.append(send_ns)
        self.errors.append(error)

    def __len__(self) -> int:
        return len(self.seqs)

    @property
    def sent_count(self) -> int:
        return self.errors.tolist().count(0)


@dataclass
class ReceiveLog:
    """One row per accepted arrival, in arrival order; ``run_id`` None if nothing arrived."""

    run_id: int | None
    seqs: array = field(default_factory=lambda: array("Q"))
    send_ns: array = field(default_factory=lambda: array("q"))
    recv_ns: array = field(default_factory=lambda: array("q"))
    meta: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, run_id: int | None, rows, **meta: Any) -> ReceiveLog:
        """Build from ``(seq, send_ns, recv_ns)`` tuples in arrival order."""
        log = cls(run_id=run_id, meta=dict(meta))
        for seq, send_ns, recv_ns in rows:
            log.append(seq, send_ns, recv_ns)
        return log

    def append(self, seq: int, send_ns: int, recv_ns: int) -> None:
        self.seqs.append(seq)
        self.send_ns.append(send_ns)
        self.recv_ns.append(recv_ns)

    def rows(self):
        """(seq, send_ns, recv_ns) in arrival order."""
        return zip(self.seqs, self.send_ns, self.recv_ns, strict=True)

    def __len__(self) -> int:
        return len(self.seqs)


def error_name(code: int) -> str:
    return errno.errorcode.get(code, f"E{code}")


def _error_code(name: str) -> int:
    if not name:
        return 0
    code = getattr(errno, name, None)
    if isinstance(code, int):
        return code
    try:
        return int(name.removeprefix("E"))
    except ValueError:
        pass
    raise ValueError(f"unknown errno name {name!r}")


def _header_line(kind: str, run_id: int | None, meta: dict[str, Any]) -> str:
    header = {"format": FORMAT, "run_id": run_id, **meta}
    return f"#pmip6-probe {kind} {json.dumps(header, sort_keys=True)}\n"


def _summary_line(summary: dict[str, Any]) -> str:
    return f"#summary {json.dumps(summary, sort_keys=True)}\n"


def write_send_log(log: SendLog, path: str | Path) -> None:
    with open(path, "w", encoding="ascii") as out:
        out.write(_header_line(SEND_KIND, log.run_id, log.meta))
        out.write(SEND_COLUMNS + "\n")
        out.writelines(
            f"{seq},{sent},{error_name(err) if err else ''}\n"
            for seq, sent, err in zip(log.seqs, log.send_ns, log.errors, strict=True)
        )
        out.write(_summary_line(log.summary))


def write_receive_log(log: ReceiveLog, path: str | Path) -> None:
    with open(path, "w", encoding="ascii") as out:
        out.write(_header_line(RECEIVE_KIND, log.run_id, log.meta))
        out.write(RECEIVE_COLUMNS + "\n")
        out.writelines(f"{seq},{sent},{received}\n" for seq, sent, received in log.rows())
        out.write(_summary_line(log.summary))


def _read_framed(path: str | Path, kind: str, columns: str):
    """Return the header dict, the summary dict and the data rows as (line number, fields)."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise LogFormatError(f"{path}: cannot read: {exc}") from None
    lines = text.splitlines()
    prefix = f"#pmip6-probe {kind} "
    if not lines or not lines[0].startswith(prefix):
        raise LogFormatError(f"{path}: not a pmip6-probe {kind} log (first line)")
    header = _parse_json(path, 1, lines[0][len(prefix) :])
    if header.get("format") != FORMAT:
        raise LogFormatError(f"{path}: unsupported log format {header.get('format')!r}")
    if len(lines) < 2 or lines[1] != columns:
        raise LogFormatError(f"{path}:2: expected column line {columns!r}")
    summary: dict[str, Any] = {}
    rows: list[tuple[int, list[str]]] = []
    for number, line in enumerate(lines[2:], start=3):
        if line.startswith("#summary "):
            summary = _parse_json(path, number, line[len("#summary ") :])
        elif line and not line.startswith("#"):
            rows.append((number, line.split(",")))
    return header, summary, rows


def _parse_json(path, number: int, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LogFormatError(f"{path}:{number}: bad JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise LogFormatError(f"{path}:{number}: expected a JSON object")
    return value


def _run_id(path, header: dict[str, Any], optional: bool) -> int | None:
    run_id = header.get("run_id")
    if run_id is None and optional:
        return None
    if not isinstance(run_id, int) or isinstance(run_id, bool):
        raise LogFormatError(f"{path}:1: run_id must be an integer, got {run_id!r}")
    return run_id


def read_send_log(path: str | Path) -> SendLog:
    return _read(SendLog, path, SEND_KIND, SEND_COLUMNS, optional_run_id=False, third=_error_code)


def read_receive_log(path: str | Path) -> ReceiveLog:
    return _read(ReceiveLog, path, RECEIVE_KIND, RECEIVE_COLUMNS, optional_run_id=True, third=int)


def _read(cls, path, kind: str, columns, *, optional_run_id: bool, third):
    """One framed log of `cls`: three fields a row, the third converted by `third`."""
    header, summary, rows = _read_framed(path, kind, columns)
    log = cls(run_id=_run_id(path, header, optional=optional_run_id))
    log.meta = {k: v for k, v in header.items() if k not in ("format", "run_id")}
    log.summary = summary
    for number, fields in rows:
        if len(fields) != 3:
            raise LogFormatError(f"{path}:{number}: expected 3 fields, got {len(fields)}")
        try:
            log.append(int(fields[0]), int(fields[1]), third(fields[2]))
        except (ValueError, OverflowError) as exc:
            raise LogFormatError(f"{path}:{number}: {exc}") from None
    return log
