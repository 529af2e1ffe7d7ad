"""The adapter tier (root; tests/conftest.py marks this directory `root`)."""

import pytest

from tests.io.pmip_path import AdapterNamespaces


@pytest.fixture
def namespaces():
    created = AdapterNamespaces()
    try:
        yield created
    finally:
        created.destroy()
