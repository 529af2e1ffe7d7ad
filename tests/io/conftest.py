import asyncio
import os
import sys

import pytest

# tests/ has no packages (a tests/io package would shadow the stdlib io), so
# make the shared namespace helpers importable by the test modules here.
sys.path.insert(0, os.path.dirname(__file__))

from netns_lab import Namespaces, tunnel_driver  # noqa: E402

from pmip6d.io.tunnels import TunnelError  # noqa: E402


@pytest.fixture
def namespaces():
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    created = Namespaces()
    try:
        yield created
    finally:
        created.destroy()


@pytest.fixture(params=["seg6", "bpf"])
def driver_name(request, namespaces):
    """Each tunnel driver of the policy-routing kind that this kernel offers; one the
    kernel lacks is SKIPPED with the reason (CI's kernel has no seg6 lwtunnel)."""
    probe = namespaces.add("probe")
    try:
        asyncio.run(tunnel_driver(probe, request.param))
    except TunnelError as error:
        pytest.skip(f"no {request.param} tunnels here: {error}")
    return request.param
