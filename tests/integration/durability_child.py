"""Child process of the durability test: commits signals in a loop and prints each one's
id and sequence number only after its commit returned. The test SIGKILLs it mid-loop.

    python -m tests.integration.durability_child DATABASE_URL BOT_ID
"""

from __future__ import annotations

import asyncio
import sys

from db.database import Database
from tests.integration.db_support import full_signal, signal_time
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.signals import SignalState


async def main(url: str, bot_id: int) -> None:
    db = Database(url, passphrases=TEST_PASSPHRASES)
    n = 0
    while True:
        async with db.uow() as uow:
            stored = await uow.signals.add(
                bot_id,
                full_signal(n),
                body_hash=f"body-{n}",
                state=SignalState.RECEIVED,
                cause="durability",
                at=signal_time(n),
            )
            await uow.commit()
        sys.stdout.write(f"{stored.id} {n}\n")
        sys.stdout.flush()
        n += 1


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
