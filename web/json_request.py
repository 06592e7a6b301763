"""JSON request bodies read one way for every route that takes one (quart-schema's
validate_request reads them through Request.get_json)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from quart import Request

from trading.domain.alerts import DuplicateKeyError, no_duplicate_keys


class BadBody(Exception):
    """A body that is not a JSON object: answered with its status before any model sees it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body is an empty object."""
    if not raw.strip():
        return {}
    try:
        # Fractions as Decimal: a price never passes through a float. Keys given twice are
        # refused as the webhook refuses them: json.loads would keep the last one silently.
        data = json.loads(raw, parse_float=Decimal, object_pairs_hook=no_duplicate_keys)
    except DuplicateKeyError as e:
        raise BadBody(
            422, "duplicate_field", f'field "{e.key[:40]}" appears twice in the body; send each field once'
        ) from None
    except (ValueError, RecursionError):
        raise BadBody(400, "not_json", "the body is not JSON; send a JSON object or nothing") from None
    if not isinstance(data, dict):
        raise BadBody(422, "invalid_body", "the body must be a JSON object")
    return data


class JsonRequest(Request):
    """A request whose get_json reads the body whatever its Content-Type says.

    `curl -d '{...}'` sends application/x-www-form-urlencoded, and the API has always judged
    the body on its own; a bodiless POST (reject, resume, approve without edits) is {}.
    """

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        del force, silent, cache  # one reading for every caller: strict, and refused with a clear answer
        # Quart raises 413 once more than MAX_CONTENT_LENGTH arrives, and 408 when the body is
        # not in within BODY_TIMEOUT (both handled app-wide).
        return parse_json_object(await self.get_data(cache=True, as_text=False, parse_form_data=False))
