import csv
import errno

from pmip6d.probe.logs import ReceiveLog, SendLog
from pmip6d.probe.timeline import COLUMNS, TimelineRow, build_timeline, write_timeline_csv

MS = 1_000_000
T0 = 1_700_000_000_000_000_000


def test_one_row_per_attempted_datagram_with_status():
    sent = SendLog.from_rows(1, [(0, T0), (1, T0 + MS), (2, T0 + 2 * MS, errno.ENETUNREACH)])
    received = ReceiveLog.from_rows(1, [(0, T0, T0 + 3 * MS), (0, T0, T0 + 9 * MS)])
    rows = build_timeline(sent, received)
    assert rows == [
        TimelineRow(0, 0.0, 3.0, 3.0, "received"),
        TimelineRow(1, 1.0, None, None, "lost"),
        TimelineRow(2, 2.0, None, None, "not_sent:ENETUNREACH"),
    ]


def test_csv_leaves_receive_columns_empty_for_missing_datagrams(tmp_path):
    sent = SendLog.from_rows(1, [(0, T0), (1, T0 + MS)])
    received = ReceiveLog.from_rows(1, [(1, T0 + MS, T0 + 2 * MS)])
    path = tmp_path / "timeline.csv"
    write_timeline_csv(build_timeline(sent, received), path)
    with open(path, newline="") as f:
        table = list(csv.reader(f))
    assert tuple(table[0]) == COLUMNS
    assert table[1] == ["0", "0.0", "", "", "lost"]
    assert table[2] == ["1", "1.0", "2.0", "1.0", "received"]


def test_empty_send_log_gives_empty_timeline():
    assert build_timeline(SendLog(run_id=1), ReceiveLog(run_id=None)) == []
