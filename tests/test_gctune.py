"""The garbage collector once the appliance is up: start-up's objects frozen, once per process."""

from __future__ import annotations

import gc

from clank_lan import gctune
from tests.conftest import running_engine


async def test_a_started_engine_has_frozen_the_start_up_objects_and_set_the_thresholds():
    async with running_engine() as engine:
        assert engine.services["mls"].up
        assert gctune.tune_once() is False  # the engine did it
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == gctune.THRESHOLDS


async def test_a_second_engine_in_the_same_process_freezes_nothing_more():
    async with running_engine():
        pass
    frozen = gc.get_freeze_count()
    async with running_engine():
        assert gc.get_freeze_count() == frozen
    assert gctune.tune_once() is False
    assert gc.get_freeze_count() == frozen
    assert gc.get_threshold() == gctune.THRESHOLDS
