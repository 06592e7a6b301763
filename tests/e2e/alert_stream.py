"""A steady stream of alerts for the fault tests: one every 1/rate s, each sent from a pool
thread so that a slow answer does not slow the stream, every answer recorded with the phase
the test was in when it was sent. Each request has the client timeout `answer_within`: a
request not answered by then is recorded with status None."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from tests.e2e.procs import now_iso, wait_until


def entry(n: int) -> dict[str, Any]:
    return {"action": "RSI_LONG_ENTRY", "price": "53210.5", "time": now_iso(), "id": f"stream-{n}"}


@dataclass
class Answer:
    n: int
    phase: str
    status: int | None  # None: no answer within answer_within (or the connection failed)
    code: str | None
    signal_id: int | None
    error: str | None = None
    answered_at: float = 0.0  # time.monotonic() when the answer (or the failure) came


class AlertStream:
    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        rate: float = 20.0,
        answer_within: float = 3.0,
        body: Callable[[int], dict[str, Any]] = entry,
    ) -> None:
        self.key, self.rate, self.body = key, rate, body
        self.http = httpx.Client(base_url=base_url, timeout=answer_within, limits=httpx.Limits(max_connections=200))
        self.phase = "before"
        self.sent = 0
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=128)
        self._thread = threading.Thread(target=self._run, name="alert-stream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            n = self.sent
            self._pool.submit(self._send, n, self.phase)
            self.sent += 1
            delay = start + (n + 1) / self.rate - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    def _send(self, n: int, phase: str) -> None:
        try:
            r = self.http.post(f"/webhook/{self.key}", json=self.body(n))
        except httpx.HTTPError as e:
            answer = Answer(n, phase, None, None, None, f"{type(e).__name__}: {e}", time.monotonic())
        else:
            data = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            code = data.get("status") if r.status_code == 200 else (data.get("error") or {}).get("code")
            answer = Answer(n, phase, r.status_code, code, data.get("signal_id"), None, time.monotonic())
        with self._lock:
            self.answers.append(answer)

    def wait_sent(self, count: int, timeout: float = 60.0) -> None:
        target = self.sent + count
        wait_until(lambda: self.sent >= target, timeout, f"{count} more alerts to be sent", interval=0.05)

    def answered(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)

    def stop(self) -> list[Answer]:
        self._stop.set()
        self._thread.join(10)
        self._pool.shutdown(wait=True)
        self.http.close()
        return sorted(self.answers, key=lambda a: a.n)
