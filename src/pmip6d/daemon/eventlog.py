"""One log line per protocol event, as plain text or as JSON lines."""

from __future__ import annotations

import json
import sys
import time
from enum import Enum
from ipaddress import IPv6Address, IPv6Network
from typing import IO, Any


def _plain(value: Any) -> Any:
    """JSON-able form of the values the core puts in events."""
    if isinstance(value, IPv6Address | IPv6Network):
        return str(value)
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value


class EventLog:
    def __init__(self, node: str, fmt: str = "text", stream: IO[str] | None = None) -> None:
        self.node = node
        self.fmt = fmt
        self.stream = stream or sys.stdout

    def emit(self, event: str, level: str = "info", /, **fields: Any) -> None:
        now = time.time()
        fields = {k: _plain(v) for k, v in fields.items()}
        if self.fmt == "json":
            record = {"ts": round(now, 6), "node": self.node, "level": level, "event": event}
            record.update(fields)
            line = json.dumps(record)
        else:
            stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
            details = " ".join(f"{k}={_text(v)}" for k, v in fields.items())
            line = f"{stamp} {self.node} {level.upper():7} {event} {details}".rstrip()
        print(line, file=self.stream, flush=True)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_text(v) for v in value) or "-"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_text(v)}" for k, v in value.items()) + "}"
    return str(value)
