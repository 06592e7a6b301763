"""Reading a TOML file the desk is configured by (the bots file, the accounts file): what went
wrong is said with the file's path, in the words of the caller's error."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any


def read_toml(path: Path, fail: Callable[[list[str]], Exception]) -> dict[str, Any]:
    """The file's tables; `fail(lines)` is raised naming the file when it cannot be read or
    is not TOML (tomllib's message carries the line and column)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise fail([f"{path}: cannot read: {e.strerror or e}"]) from e
    except UnicodeDecodeError as e:
        raise fail([f"{path}: not UTF-8 text: {e.reason}"]) from e
    except tomllib.TOMLDecodeError as e:
        raise fail([f"{path}: not valid TOML: {e}"]) from e
