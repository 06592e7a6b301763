from __future__ import annotations

import pytest

from tests.support.fake_uow import FakeDatabase
from tests.support.service_rig import Rig, make_rig


@pytest.fixture
def rig() -> Rig:
    return make_rig(FakeDatabase())
