"""How the API tells a refused query string or body: one sentence naming every field at
fault (an unknown field by its name), under the request model's own error code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

MAX_SHOWN = 40  # characters of a bad value quoted back in an error


def problem(message: str) -> PydanticCustomError:
    # A custom error keeps our sentence as the message, without pydantic's "Value error, ".
    return PydanticCustomError("invalid", message)


def shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:MAX_SHOWN])


def describe(error: ValidationError, unknown: Callable[[str], str]) -> str:
    """One message naming every field at fault; `unknown` says what of the unknown fields named."""
    extra: list[str] = []
    problems: list[str] = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            extra.append(where[:MAX_SHOWN])
        elif item["type"] == "invalid":
            problems.append(item["msg"])
        elif where:
            problems.append(f'"{where}": {item["msg"]}')
        else:
            problems.append(item["msg"])
    if extra:
        problems.insert(0, unknown(", ".join(sorted(extra))))
    return "; ".join(problems)


class RequestModel(BaseModel):
    """A query string or a body: no field it does not name.

    Each is filed under its class name as it is defined: quart-schema's validation error
    carries that name, and web/app.py finds the model by it to tell the refusal. A model a
    route validates with has been defined, so none can be missing."""

    model_config = ConfigDict(extra="forbid")
    error_code: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        REQUEST_MODELS[cls.__name__] = cls

    @classmethod
    def describe(cls, error: ValidationError) -> str:
        return describe(error, cls.unknown)

    @classmethod
    def unknown(cls, names: str) -> str:
        """What to say of the unknown fields `names`."""
        raise NotImplementedError


REQUEST_MODELS: dict[str, type[RequestModel]] = {}
