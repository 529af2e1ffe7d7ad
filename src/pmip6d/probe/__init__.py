"""Traffic probe: sequence-numbered UDP sender, receiver, and loss/interruption analysis.

In-process use (benchmarks, tests)::

    receiver = Receiver("::1", 0, idle_timeout=1.0)
    receiver.open()                      # binds; receiver.port is now known
    thread = threading.Thread(target=lambda: result.append(receiver.run()))
    thread.start()
    sent = Sender("::1", receiver.port, rate=2000, duration=0.5).run()
    thread.join()
    report = analyse(sent, result[0])
"""

from pmip6d.probe.analysis import Report, RunMismatch, analyse, to_ranges
from pmip6d.probe.logs import (
    LogFormatError,
    ReceiveLog,
    SendLog,
    read_receive_log,
    read_send_log,
    write_receive_log,
    write_send_log,
)
from pmip6d.probe.receiver import Receiver
from pmip6d.probe.sender import Sender
from pmip6d.probe.timeline import TimelineRow, build_timeline, write_timeline_csv

__all__ = [
    "LogFormatError",
    "ReceiveLog",
    "Receiver",
    "Report",
    "RunMismatch",
    "SendLog",
    "Sender",
    "TimelineRow",
    "analyse",
    "build_timeline",
    "read_receive_log",
    "read_send_log",
    "to_ranges",
    "write_receive_log",
    "write_send_log",
    "write_timeline_csv",
]
