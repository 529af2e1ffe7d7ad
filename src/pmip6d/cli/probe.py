"""pmip6-probe: send, receive and analyse a sequence-numbered UDP stream.

    pmip6-probe send --dst ADDR --port P --rate PPS --duration S [--count N]
                     [--size B] [--run-id ID] [--log FILE]
    pmip6-probe recv --bind ADDR --port P --out FILE
                     [--duration S] [--idle-timeout S] [--run-id ID]
    pmip6-probe report --sent SENDLOG --received RECVLOG [--json] [--timeline FILE.csv]

send and recv print a one-line JSON summary; report prints a text summary or JSON.
Bad input gives a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from pmip6d.probe.analysis import RunMismatch, analyse
from pmip6d.probe.logs import (
    LogFormatError,
    read_receive_log,
    read_send_log,
    write_receive_log,
    write_send_log,
)
from pmip6d.probe.packet import DEFAULT_SIZE, HEADER_SIZE, MAX_SIZE
from pmip6d.probe.receiver import Receiver
from pmip6d.probe.sender import Sender
from pmip6d.probe.timeline import build_timeline, write_timeline_csv

PROG = "pmip6-probe"
USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input: reported on one line, exit status 2."""


class _OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _bounded(kind: Callable[[str], float | int], low, high=None, what: str = "value"):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if value != value or value < low or (high is not None and value > high):
            bound = f"{low}..{high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{what} must be {bound}, got {text}")
        return value

    return parse


def _positive_float(what: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{what} must be positive, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrorParser(prog=PROG, description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_OneLineErrorParser
    )

    send = commands.add_parser("send", help="send a paced UDP stream")
    send.add_argument("--dst", required=True, help="destination IP address")
    send.add_argument("--port", required=True, type=_bounded(int, 1, 65535, "port"))
    send.add_argument("--rate", required=True, type=_positive_float("rate"), help="datagrams/s")
    send.add_argument("--duration", required=True, type=_positive_float("duration"), help="s")
    send.add_argument("--count", type=_bounded(int, 1, what="count"), help="cap on datagrams")
    send.add_argument(
        "--size",
        type=_bounded(int, HEADER_SIZE, MAX_SIZE, "size"),
        default=DEFAULT_SIZE,
        help=f"UDP payload bytes (default {DEFAULT_SIZE})",
    )
    send.add_argument("--run-id", type=_bounded(int, 0, 2**32 - 1, "run id"), help="default random")
    send.add_argument("--log", help="write the send log (CSV) here")

    recv = commands.add_parser("recv", help="record arriving datagrams")
    recv.add_argument("--bind", required=True, help="local IP address")
    recv.add_argument("--port", required=True, type=_bounded(int, 1, 65535, "port"))
    recv.add_argument("--out", required=True, help="write the receive log (CSV) here")
    recv.add_argument("--duration", type=_positive_float("duration"), help="stop after S s")
    recv.add_argument(
        "--idle-timeout",
        type=_positive_float("idle timeout"),
        help="stop S s after the last arrival (default 2 without --duration)",
    )
    recv.add_argument("--run-id", type=_bounded(int, 0, 2**32 - 1, "run id"))

    report = commands.add_parser("report", help="compare a send log with a receive log")
    report.add_argument("--sent", required=True, help="send log")
    report.add_argument("--received", required=True, help="receive log")
    report.add_argument("--json", action="store_true", help="print JSON instead of text")
    report.add_argument("--timeline", help="write the per-datagram timeline CSV here")
    return parser


def _stop_on_signals(stop: Callable[[], None]) -> None:
    # The log of an interrupted run is still worth writing.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop())


def _check_writable(path: str) -> None:
    try:
        with open(path, "a", encoding="ascii"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def _send(args: argparse.Namespace) -> int:
    try:
        sender = Sender(
            args.dst,
            args.port,
            args.rate,
            duration=args.duration,
            count=args.count,
            size=args.size,
            run_id=args.run_id,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.log:
        _check_writable(args.log)
    _stop_on_signals(sender.stop)
    log = sender.run()
    if args.log:
        write_send_log(log, args.log)
    print(json.dumps({"run_id": log.run_id, **log.summary}, sort_keys=True))
    return 0


def _recv(args: argparse.Namespace) -> int:
    idle_timeout = args.idle_timeout
    if idle_timeout is None and args.duration is None:
        idle_timeout = 2.0
    try:
        receiver = Receiver(
            args.bind,
            args.port,
            duration=args.duration,
            idle_timeout=idle_timeout,
            run_id=args.run_id,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _check_writable(args.out)
    try:
        receiver.open()
    except OSError as exc:
        raise UsageError(f"cannot bind [{args.bind}]:{args.port}: {exc.strerror}") from None
    _stop_on_signals(receiver.stop)
    log = receiver.run()
    write_receive_log(log, args.out)
    print(json.dumps({"run_id": log.run_id, **log.summary}, sort_keys=True))
    return 0


def _report(args: argparse.Namespace) -> int:
    try:
        sent = read_send_log(args.sent)
        received = read_receive_log(args.received)
        result = analyse(sent, received)
    except (LogFormatError, RunMismatch) as exc:
        raise UsageError(str(exc)) from None
    if args.timeline:
        _check_writable(args.timeline)
        write_timeline_csv(build_timeline(sent, received), args.timeline)
    print(result.to_json() if args.json else result.to_text())
    return 0


_COMMANDS = {"send": _send, "recv": _recv, "report": _report}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return _COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
