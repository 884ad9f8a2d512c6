"""Fixtures shared across the test suite."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.security_fixtures import PKIWorld


@pytest.fixture(scope="session")
def pki_world(tmp_path_factory: pytest.TempPathFactory) -> PKIWorld:
    """The consortium PKI of tests/security_fixtures.py; keys live in a temp dir only."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return PKIWorld.build(tmp_path_factory.mktemp("pki"), now)
