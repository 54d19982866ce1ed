"""The real stack for the fault suite: one per test module (tests/support/stack.py)."""
from __future__ import annotations

import pytest

from tests.support.stack import Stack
from threadline.training import model_path


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    assert model_path().is_file(), "train first: make train"
    with Stack(tmp_path_factory.mktemp("fault-stack")) as running:
        yield running
