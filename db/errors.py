"""Errors the repositories raise, each saying what was not found or what clashed."""

from __future__ import annotations


class NotFound(LookupError):
    pass


class DuplicateOrder(ValueError):
    """An order with this client_order_id is stored already (client ids are never reused)."""

    def __init__(self, client_order_id: str) -> None:
        super().__init__(f"an order with client_order_id {client_order_id!r} already exists")
        self.client_order_id = client_order_id


class WebhookKeyInUse(ValueError):
    pass
