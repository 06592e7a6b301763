"""Log lines built from input cannot be forged: control characters are escaped."""

from __future__ import annotations

import io
import logging

from bot.log_format import SafeFormatter, escape_controls


def logged(message: str, *args: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("test.log_format")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_newline_and_terminal_escapes_in_input_stay_on_one_escaped_line() -> None:
    forged = 'ticker"\n2026-12-01 03:00:00 INFO signaldesk.app: \x1b[2Jall good\r'
    out = logged("webhook refused: unknown ticker %s", forged)
    assert out.count("\n") == 1 and out.endswith("\n")  # the handler's own line end only
    assert "\x1b" not in out and "\r" not in out
    assert "\\n2026-12-01" in out and "\\x1b[2J" in out and "\\r" in out


def test_bidirectional_overrides_and_c1_controls_are_escaped() -> None:
    assert escape_controls("a\u202eb\x9bc\x00") == "a\\u202eb\\x9bc\\x00"


def test_plain_text_and_non_ascii_letters_are_left_alone() -> None:
    text = "signal #12 for SA40_RSI_Bot: long 1 @ 53210.5 — Zürich ✓"
    assert escape_controls(text) == text


def test_a_traceback_keeps_its_lines() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(message)s"))
    logger = logging.getLogger("test.log_format.tb")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed on %s", "x\ny")
    finally:
        logger.removeHandler(handler)
    first, *rest = stream.getvalue().splitlines()
    assert first == "failed on x\\ny"
    assert rest[0].startswith("Traceback") and any("ValueError: boom" in line for line in rest)
