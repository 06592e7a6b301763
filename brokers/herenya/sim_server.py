"""Serving the simulator with Hypercorn: in the caller's event loop (tests) or as a process (CLI)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from quart import Quart

from brokers.herenya.sim_app import create_sim_app
from brokers.herenya.sim_config import SimConfig
from brokers.herenya.sim_state import SimState


@dataclass
class RunningSimulator:
    base_url: str
    host: str
    port: int
    state: SimState
    app: Quart


def bind_socket(host: str, port: int) -> tuple[int, int]:
    """Bind and listen ourselves, so port 0 gives a free port we know before Hypercorn
    starts and connections queue from this moment; returns (fd, port) for Hypercorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(1024)
        bound = sock.getsockname()[1]
    except BaseException:
        sock.close()
        raise
    return sock.detach(), bound


def hypercorn_config(fd: int, graceful_timeout: float = 1.0) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [f"fd://{fd}"]
    config.graceful_timeout = graceful_timeout
    config.accesslog = None
    config.keep_alive_timeout = 30
    return config


async def serve_simulator(
    app: Quart, fd: int, shutdown_trigger: Callable[[], Awaitable[object]] | None = None, graceful_timeout: float = 1.0
) -> None:
    await serve(app, hypercorn_config(fd, graceful_timeout), shutdown_trigger=shutdown_trigger)


@asynccontextmanager
async def running_simulator(
    config: SimConfig | None = None, *, host: str = "127.0.0.1", state: SimState | None = None
) -> AsyncIterator[RunningSimulator]:
    """Serve a simulator on a free loopback port in this event loop for the block's duration."""
    state = state or SimState(config or SimConfig())
    app = create_sim_app(state.config, state)
    fd, port = bind_socket(host, 0)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_simulator(app, fd, stop.wait))
    try:
        yield RunningSimulator(f"http://{host}:{port}", host, port, state, app)
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 10)
        except TimeoutError:
            task.cancel()
