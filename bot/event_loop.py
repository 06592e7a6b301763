"""Which event loop `signaldesk serve` runs on: uvloop by default, asyncio's own on request.

uvloop is asyncio's loop reimplemented on libuv; every coroutine, task and library here
runs on it unchanged. Measured with bench/webhook.py on the 2-core machine: 18% more
alerts/s at saturation (1,068-1,130 -> 1,280-1,330/s, 32 connections), because the loop
and its socket transports are a fifth of serve's CPU under load.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

log = logging.getLogger("signaldesk.loop")

T = TypeVar("T")
LoopChoice = Literal["uvloop", "asyncio"]


def run(main: Coroutine[Any, Any, T], choice: LoopChoice) -> T:
    """Run `main` to completion on a new event loop of the chosen kind. Where uvloop is
    not installed (it does not exist for Windows), asyncio's loop runs it, with a warning."""
    if choice == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("SIGNALDESK_EVENT_LOOP=uvloop but uvloop is not installed; running on asyncio's loop")
        else:
            log.info("event loop: uvloop")
            return uvloop.run(main)
    log.info("event loop: asyncio")
    return asyncio.run(main)
