"""Receive probe datagrams and record each arrival: sequence, send time, receive time.

Arrival times come from the kernel (SO_TIMESTAMPNS, CLOCK_REALTIME at the moment
the datagram reached the socket) when available, so a receiver that is briefly
descheduled while a buffer of held packets is released still sees the true
arrival spacing. The kernel's count of datagrams dropped because the socket
buffer was full comes from SO_RXQ_OVFL, reported as ``kernel_drops``.

The receive buffer is made large (8 MiB by default) because the LMA releases a
handover's worth of buffered packets in a burst.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

from pmip6d.probe.logs import ReceiveLog
from pmip6d.probe.packet import MAX_SIZE, MalformedDatagram, decode
from pmip6d.probe.sender import socket_family

# Linux values (asm-generic); the socket module does not export them.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
DEFAULT_RECEIVE_BUFFER = 8 * 1024 * 1024
# How often the blocking receive wakes up to check the stop conditions.
_POLL_INTERVAL_S = 0.05
_TIMESPEC = struct.Struct("@qq")
_UINT32 = struct.Struct("@I")
_ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(_UINT32.size)


class Receiver:
    """Record probe datagrams arriving on ``bind``:``port``.

    Stops after ``duration`` s, or ``idle_timeout`` s without an arrival once the
    first one was seen, or on ``stop()`` (thread- and signal-safe). ``run_id`` None
    locks onto the run id of the first valid datagram. Usable in a thread, or from
    asyncio via ``await asyncio.to_thread(receiver.run)``. Call ``open()`` first to
    learn ``port`` when binding port 0; ``run()`` opens if needed and closes at the end.
    """

    def __init__(
        self,
        bind: str,
        port: int,
        duration: float | None = None,
        idle_timeout: float | None = None,
        run_id: int | None = None,
        receive_buffer: int = DEFAULT_RECEIVE_BUFFER,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        if duration is not None and not duration > 0:
            raise ValueError(f"duration must be positive seconds, got {duration}")
        if idle_timeout is not None and not idle_timeout > 0:
            raise ValueError(f"idle timeout must be positive seconds, got {idle_timeout}")
        if run_id is not None and not 0 <= run_id < 2**32:
            raise ValueError(f"run id must be 0..{2**32 - 1}, got {run_id}")
        self.family = socket_family(bind)
        self.bind = bind
        self.port = port
        self.duration = duration
        self.idle_timeout = idle_timeout
        self.run_id = run_id
        self.receive_buffer = receive_buffer
        self._sock: socket.socket | None = None
        self._counts_drops = False
        self._stop = threading.Event()
        self.ready = threading.Event()

    def open(self) -> None:
        if self._sock is not None:
            return
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            self._grow_receive_buffer(sock)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
                self._counts_drops = True
            except OSError:
                self._counts_drops = False  # drop counting is optional
            sock.bind((self.bind, self.port))
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._sock = sock
        self.ready.set()

    def _grow_receive_buffer(self, sock: socket.socket) -> None:
        # SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN; else take what is allowed.
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, self.receive_buffer)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def run(self) -> ReceiveLog:
        self.open()
        assert self._sock is not None
        try:
            return self._receive_all(self._sock)
        finally:
            self.close()

    def _receive_all(self, sock: socket.socket) -> ReceiveLog:
        log = ReceiveLog(run_id=self.run_id, meta={"bind": self.bind, "port": self.port})
        receive_buffer = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        sock.settimeout(_POLL_INTERVAL_S)
        recvmsg = sock.recvmsg
        append = log.append
        run_id = self.run_id
        foreign = malformed = 0
        # The kernel attaches the cumulative drop counter only once it is non-zero.
        kernel_drops: int | None = 0 if self._counts_drops else None
        kernel_timestamps = 0
        started = time.monotonic()
        end = started + self.duration if self.duration is not None else None
        last_arrival: float | None = None
        stop_reason = "stopped"
        while True:
            if self._stop.is_set():
                break
            now = time.monotonic()
            if end is not None and now >= end:
                stop_reason = "duration"
                break
            if (
                self.idle_timeout is not None
                and last_arrival is not None
                and now - last_arrival >= self.idle_timeout
            ):
                stop_reason = "idle"
                break
            try:
                data, ancillary, _flags, _source = recvmsg(MAX_SIZE, _ANCILLARY_SIZE)
            except TimeoutError:
                continue
            recv_ns = 0
            for level, kind, value in ancillary:
                if level != socket.SOL_SOCKET:
                    continue
                if kind == SO_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
                    seconds, nanoseconds = _TIMESPEC.unpack_from(value)
                    recv_ns = seconds * 1_000_000_000 + nanoseconds
                elif kind == SO_RXQ_OVFL and len(value) >= _UINT32.size:
                    kernel_drops = _UINT32.unpack_from(value)[0]
            if recv_ns:
                kernel_timestamps += 1
            else:
                recv_ns = time.time_ns()
            try:
                header = decode(data)
            except MalformedDatagram:
                malformed += 1
                continue
            if run_id is None:
                run_id = log.run_id = header.run_id
            elif header.run_id != run_id:
                foreign += 1
                continue
            append(header.seq, header.send_ns, recv_ns)
            last_arrival = time.monotonic()
        log.summary = {
            "received": len(log),
            "foreign": foreign,
            "malformed": malformed,
            "kernel_drops": kernel_drops,
            "kernel_timestamps": kernel_timestamps == len(log) and len(log) > 0,
            "receive_buffer": receive_buffer,
            "elapsed_s": round(time.monotonic() - started, 6),
            "stop_reason": stop_reason,
        }
        return log
