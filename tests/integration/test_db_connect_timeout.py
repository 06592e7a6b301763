"""Opening a PostgreSQL connection is bounded (issue 25, item 2): asyncpg's own default waits
60 s for a server that accepted the TCP connection but does not answer (a host in trouble,
a server stuck starting), and a request needing a new connection would hang with it."""

from __future__ import annotations

import asyncio
import socket

import pytest

from db.database import Database


async def test_a_server_that_never_answers_fails_the_connection_instead_of_hanging() -> None:
    # A listening socket nobody accepts on: the kernel completes the TCP handshake (backlog),
    # and the client then waits for the server's first message, which never comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres", connect_timeout=0.5)
        try:
            # The outer bound only turns a hang into a failure; the connect timeout is what answers.
            async with asyncio.timeout(20):
                with pytest.raises((TimeoutError, OSError)):
                    await db.ping()
        finally:
            await db.dispose()
