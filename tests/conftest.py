"""Shared fixtures: a running appliance on 127.0.0.1 with ephemeral ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from clank_lan.client.lobby import Ports
from clank_lan.config import Config, PortSettings, parse_config

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def ephemeral_config(text: str = "") -> Config:
    """A config whose every port is 0 (the OS picks), for tests."""
    import msgspec

    cfg = parse_config(text)
    zero = PortSettings(muis=0, mas=0, mls=0, mps=0, dme_tcp=0, dme_udp=0, nat=0)
    return msgspec.structs.replace(cfg, ports=zero)


@asynccontextmanager
async def running_engine(config: Config | None = None, data_dir: Path | None = None) -> AsyncIterator[object]:
    from clank_lan.engine import Addresses, Engine

    engine = Engine(
        config or ephemeral_config(),
        Addresses(bind="127.0.0.1", advertised="127.0.0.1"),
        data_dir=data_dir,
        ephemeral=data_dir is None,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        try:
            yield engine
        finally:
            nursery.cancel_scope.cancel()


def ports_of(engine) -> Ports:
    return Ports(muis=engine.port("muis"), mas=engine.port("mas"), mls=engine.port("mls"))


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the shared reference material is not at {SHARED}")
    return SHARED
