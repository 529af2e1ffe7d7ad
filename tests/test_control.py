"""The control socket and pmip6ctl against a real Unix socket server."""

import asyncio
import json
import threading

import pytest

from pmip6d.cli import pmip6ctl
from pmip6d.control import ControlError, request, serve

STATUS = {
    "role": "lma",
    "node": "lma",
    "bindings": [{"mn": "mn1@pmipv6.lab", "prefixes": ["2001:db8:1:1::/64"], "state": "bound"}],
    "counters": {"pbu_accepted": 3},
}


@pytest.fixture
def control_server(tmp_path):
    path = tmp_path / "ctl.sock"
    seen = []

    def handler(req):
        seen.append(req)
        if req["command"] == "status":
            return STATUS
        if req["command"] == "buffering":
            return {"buffering": req["enabled"]}
        if req["command"] == "detach":
            if req["interface"] != "eth2":
                raise ControlError(f"no MN is attached on {req['interface']}")

            async def after_the_route_is_gone():  # the MAG answers once its actions ran
                await asyncio.sleep(0.01)
                return {"detached": "mn1@pmipv6.lab", "interface": req["interface"]}

            return after_the_route_is_gone()
        raise ControlError(f"unknown command {req['command']!r}")

    loop = asyncio.new_event_loop()
    ready = threading.Event()

    stop = asyncio.Event()

    async def main():
        server = await serve(path, handler)
        ready.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    assert ready.wait(5)
    yield path, seen
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)


def test_status_round_trip(control_server):
    path, seen = control_server
    assert request(path, "status") == STATUS
    assert seen == [{"command": "status"}]


def test_unknown_command_is_an_error_reply(control_server):
    path, _ = control_server
    with pytest.raises(ControlError, match="unknown command 'reboot'"):
        request(path, "reboot")


def test_missing_socket_is_a_clear_error(tmp_path):
    with pytest.raises(ControlError, match="is pmip6d running"):
        request(tmp_path / "absent.sock", "status")


def test_pmip6ctl_status_json(control_server, capsys):
    path, _ = control_server
    assert pmip6ctl.main(["--socket", str(path), "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == STATUS


def test_pmip6ctl_status_text_shows_bindings(control_server, capsys):
    path, _ = control_server
    assert pmip6ctl.main(["--socket", str(path), "status"]) == 0
    out = capsys.readouterr().out
    assert "mn1@pmipv6.lab" in out and "2001:db8:1:1::/64" in out and "pbu_accepted: 3" in out


def test_pmip6ctl_buffering_off(control_server, capsys):
    path, seen = control_server
    assert pmip6ctl.main(["--socket", str(path), "buffering", "off"]) == 0
    assert seen[-1] == {"command": "buffering", "enabled": False}
    assert capsys.readouterr().out.strip() == "buffering off"


def test_pmip6ctl_detach_waits_for_the_daemon_and_names_the_mn(control_server, capsys):
    path, seen = control_server
    assert pmip6ctl.main(["--socket", str(path), "detach", "eth2"]) == 0
    assert seen[-1] == {"command": "detach", "interface": "eth2"}
    assert capsys.readouterr().out.strip() == "mn1@pmipv6.lab detached from eth2"


def test_pmip6ctl_detach_without_an_mn_there_exits_2(control_server, capsys):
    path, _ = control_server
    assert pmip6ctl.main(["--socket", str(path), "detach", "eth3"]) == 2
    assert capsys.readouterr().err.strip() == "pmip6ctl: no MN is attached on eth3"


def test_pmip6ctl_without_daemon_exits_2(tmp_path, capsys):
    assert pmip6ctl.main(["--socket", str(tmp_path / "none.sock"), "status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pmip6ctl: ") and "Traceback" not in err
