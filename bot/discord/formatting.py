"""Time, table and text layout shared by the cards and the channel lines (numbers are
formatted by trading.domain.display, which every face shares)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


def ts(when: datetime, style: str = "R") -> str:
    """A Discord timestamp: each reader sees it in their own time zone ('R': 'in 14 minutes')."""
    return f"<t:{int(when.timestamp())}:{style}>"


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], right: set[int]) -> str:
    """A monospace table for a code block: text columns left, number columns right aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [r[i].rjust(widths[i]) if i in right else r[i].ljust(widths[i]) for i in range(len(r))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def code_block(text: str) -> str:
    # Backticks inside would close the block early; nothing we print should hold any.
    return "```\n" + text.replace("```", "'''") + "\n```"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
