"""Namespace tests need root. In CI a missing capability is a failure, not a skip."""

from __future__ import annotations

import os

import pytest

from pmip6d.netlab import require_root


@pytest.fixture(scope="session")
def netns_ok() -> None:
    reason = require_root()
    if reason is None:
        return
    if os.environ.get("CI") or os.environ.get("PMIP6D_REQUIRE_NETNS"):
        pytest.fail(f"namespace tests cannot run: {reason}")
    # Outside CI (a developer without root) the skip is shown with its reason;
    # scripts/test.sh fails any skip under CI=true as well.
    pytest.skip(reason)
