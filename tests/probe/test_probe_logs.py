import errno

import pytest

from pmip6d.probe.logs import (
    LogFormatError,
    ReceiveLog,
    SendLog,
    read_receive_log,
    read_send_log,
    write_receive_log,
    write_send_log,
)


def test_send_log_roundtrip_keeps_rows_errors_meta_and_summary(tmp_path):
    log = SendLog.from_rows(7, [(0, 100), (1, 200, errno.ENETUNREACH), (2, 300)], dst="::1", port=9)
    log.summary = {"sent": 2, "send_errors": 1}
    path = tmp_path / "sent.csv"
    write_send_log(log, path)
    back = read_send_log(path)
    assert back.run_id == 7
    assert list(back.seqs) == [0, 1, 2]
    assert list(back.send_ns) == [100, 200, 300]
    assert list(back.errors) == [0, errno.ENETUNREACH, 0]
    assert back.meta == {"dst": "::1", "port": 9}
    assert back.summary == {"sent": 2, "send_errors": 1}
    assert "1,200,ENETUNREACH" in path.read_text().splitlines()


def test_receive_log_roundtrip_keeps_arrival_order_and_duplicates(tmp_path):
    rows = [(2, 20, 25), (0, 0, 30), (2, 20, 31)]
    log = ReceiveLog.from_rows(5, rows)
    log.summary = {"kernel_drops": 0}
    path = tmp_path / "received.csv"
    write_receive_log(log, path)
    back = read_receive_log(path)
    assert back.run_id == 5
    assert list(back.rows()) == rows
    assert back.summary == {"kernel_drops": 0}


def test_receive_log_of_an_empty_run_has_no_run_id(tmp_path):
    path = tmp_path / "received.csv"
    write_receive_log(ReceiveLog(run_id=None), path)
    back = read_receive_log(path)
    assert back.run_id is None
    assert len(back) == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "not a pmip6-probe send log"),
        ('#pmip6-probe recv {"format": 1, "run_id": 1}\nseq,send_ns,recv_ns\n', "not a"),
        ('#pmip6-probe send {"format": 9, "run_id": 1}\nseq,send_ns,error\n', "format 9"),
        ('#pmip6-probe send {"format": 1, "run_id": "x"}\nseq,send_ns,error\n', "run_id"),
        ("#pmip6-probe send {oops\nseq,send_ns,error\n", "bad JSON"),
        ('#pmip6-probe send {"format": 1, "run_id": 1}\nseq,when\n', "column line"),
        (
            '#pmip6-probe send {"format": 1, "run_id": 1}\nseq,send_ns,error\n1,2\n',
            ":3: expected 3",
        ),
        ('#pmip6-probe send {"format": 1, "run_id": 1}\nseq,send_ns,error\nx,2,\n', ":3:"),
        ('#pmip6-probe send {"format": 1, "run_id": 1}\nseq,send_ns,error\n1,2,EBOGUS\n', "EBOGUS"),
    ],
)
def test_malformed_send_log_names_file_and_problem(tmp_path, text, message):
    path = tmp_path / "sent.csv"
    path.write_text(text)
    with pytest.raises(LogFormatError, match=message):
        read_send_log(path)


def test_missing_log_file_is_a_format_error(tmp_path):
    with pytest.raises(LogFormatError, match="cannot read"):
        read_receive_log(tmp_path / "absent.csv")
