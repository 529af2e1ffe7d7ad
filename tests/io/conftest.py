"""The adapter tier (root; tests/conftest.py marks this directory `root`)."""

import asyncio

import pytest

from pmip6d.io.tunnels import TunnelError
from tests.io.pmip_path import AdapterNamespaces, tunnel_driver


@pytest.fixture
def namespaces():
    created = AdapterNamespaces()
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
