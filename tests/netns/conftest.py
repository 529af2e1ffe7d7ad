"""Fixtures for the network-namespace tier: real daemons, real kernel (root;
tests/conftest.py marks this directory `root`)."""

import pytest

from pmipv6_lab.testbed.domain import NamespaceDomain


@pytest.fixture
def domain_factory(tmp_path):
    built: list[NamespaceDomain] = []

    def make(**options) -> NamespaceDomain:
        domain = NamespaceDomain(tmp_path / f"domain{len(built)}", **options)
        built.append(domain)
        domain.build()
        domain.write_configs()
        return domain

    yield make
    for domain in built:
        domain.destroy()  # the daemons' logs stay in tmp_path for a post-mortem


@pytest.fixture
def domain(domain_factory) -> NamespaceDomain:
    """A running standard (unbuffered) domain with the MN attached at MAG1."""
    d = domain_factory(buffering=False)
    d.start_all()
    d.wait_for(d.mn_address, "the MN's SLAAC address from its home prefix", timeout=20)
    return d
