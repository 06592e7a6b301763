"""The command line explains itself: every command and option has help, and the top-level
help points at the web desk."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bot.cli.main import main


def help_of(capsys: pytest.CaptureFixture[str], *path: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*path, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def entries_without_help(text: str) -> list[str]:
    """Option and argument entries of a help text that no help follows."""
    bare = []
    lines = text.splitlines()
    in_section = False
    for i, line in enumerate(lines):
        if line.endswith(":") and not line.startswith(" "):
            in_section = line in ("options:", "positional arguments:")
            continue
        if not in_section or not re.match(r"  \S", line):
            continue
        if re.search(r"\S {2,}\S", line.strip()):
            continue  # the help is on the entry's own line
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not re.match(r" {4,}\S", following):
            bare.append(line.strip())
    return bare


def commands(capsys: pytest.CaptureFixture[str], *path: str) -> list[tuple[str, ...]]:
    text = help_of(capsys, *path)
    usage = text.split("\n\n", 1)[0]
    found = re.search(r"\{([^}]+)\}\s+\.\.\.", usage)  # subcommands, not an option's choices
    below = [tuple([*path, name]) for name in found.group(1).split(",")] if found else []
    return [path, *[p for sub in below for p in commands(capsys, *sub)]]


def test_every_command_and_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    paths = commands(capsys)
    assert ("bots", "new") in paths and ("herenya-sim",) in paths and ("replay",) in paths
    missing = {" ".join(p) or "signaldesk": bare for p in paths if (bare := entries_without_help(help_of(capsys, *p)))}
    assert missing == {}


def test_the_top_level_help_mentions_the_web_desk(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys)
    assert "web desk" in text and "signaldesk serve" in text


def test_the_parser_imports_no_database_code() -> None:
    """`signaldesk` builds every command's parser for any command: the simulator, the
    Discord check and `--help` start without the database's imports (a second of CPU)."""
    code = (
        "import sys\n"
        "from bot.cli.main import main\n"
        "try:\n"
        "    main(['herenya-sim', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'db', 'argon2')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.splitlines()[-1] == "[]", done.stdout
