"""The control socket: one JSON request line in, one JSON reply line out.

A Unix stream socket keeps the protocol trivially scriptable (`socat`, `nc -U`)
and access is governed by file permissions. Requests look like
`{"command": "status"}` or `{"command": "buffering", "enabled": false}`;
replies are `{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

Handler = Callable[[dict], dict | Awaitable[dict]]

MAX_REQUEST_BYTES = 64 * 1024


class ControlError(Exception):
    """A request the daemon could not carry out; the message goes to the client."""


async def serve(path: Path, handler: Handler) -> asyncio.AbstractServer:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            reply = await _answer(line, handler)
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_unix_server(on_client, path=str(path), limit=MAX_REQUEST_BYTES)
    os.chmod(path, 0o660)
    return server


async def _answer(line: bytes, handler: Handler) -> dict:
    try:
        request = json.loads(line)
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            raise ControlError('a request is a JSON object with a "command" string')
        result = handler(request)
        if asyncio.iscoroutine(result):
            result = await result
        return {"ok": True, "result": result}
    except json.JSONDecodeError as exc:
        return {"ok": False, "error": f"request is not JSON: {exc.msg}"}
    except ControlError as exc:
        return {"ok": False, "error": str(exc)}


def request(path: Path, command: str, timeout: float = 5.0, **arguments) -> dict:
    """Send one request and return the result; raises ControlError on any failure."""
    message = json.dumps({"command": command, **arguments}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(message)
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except FileNotFoundError:
        raise ControlError(f"no daemon control socket at {path} (is pmip6d running?)") from None
    except ConnectionRefusedError:
        raise ControlError(
            f"nothing listens on {path} (stale socket of a stopped daemon?)"
        ) from None
    except OSError as exc:
        raise ControlError(f"{path}: {exc.strerror or exc}") from None
    try:
        reply = json.loads(data)
    except json.JSONDecodeError:
        raise ControlError(f"{path}: the daemon sent an unreadable reply") from None
    if not reply.get("ok"):
        raise ControlError(reply.get("error", "request failed"))
    return reply["result"]
