"""Log lines that input cannot forge: control characters in a message are escaped.

Alert bodies, tickers, JSON keys and Discord names reach log messages; a newline in one
would start a forged line, and terminal escape codes would rewrite what an operator sees.
"""

from __future__ import annotations

import logging

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows.
_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES = {code: (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}") for code in _CONTROLS}
_ESCAPES.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})


def escape_controls(text: str) -> str:
    return text.translate(_ESCAPES)


class SafeFormatter(logging.Formatter):
    """Escapes the message; a traceback, added after it, is ours and stays as it is."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)
