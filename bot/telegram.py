"""A Telegram chat as an event sink (optional: TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID)."""

from __future__ import annotations

import httpx

from trading.domain.events import Event, Severity


class TelegramSink:
    def __init__(self, base_url: str, token: str, chat_id: str, *, timeout: float = 10.0) -> None:
        self._url = f"{base_url.rstrip('/')}/bot{token}/sendMessage"
        self._chat_id = chat_id
        self._http = httpx.AsyncClient(timeout=timeout)

    def __repr__(self) -> str:  # the token is part of the URL: keep it out of reprs and logs
        return f"TelegramSink(chat_id={self._chat_id!r})"

    async def publish(self, event: Event) -> None:
        prefix = "⚠️ " if event.severity is Severity.ERROR else ""
        try:
            response = await self._http.post(self._url, json={"chat_id": self._chat_id, "text": prefix + event.text()})
        except httpx.HTTPError as e:
            raise RuntimeError(f"telegram unreachable: {type(e).__name__}") from None
        if response.status_code != 200:
            raise RuntimeError(f"telegram answered {response.status_code}")

    async def aclose(self) -> None:
        await self._http.aclose()
