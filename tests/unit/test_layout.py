"""The layout says what it holds (docs/architecture.md, "How the names read"): the commands
live in bot/cli/ and nothing else depends on them; one module is called models.py."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "web", "trading", "db", "brokers")


def _sources() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_only_the_command_line_imports_the_command_line() -> None:
    cli = ROOT / "bot" / "cli"
    outside = [path for path in _sources() if cli not in path.parents]
    assert len(outside) > 100  # the packages were found
    importers = [
        str(path.relative_to(ROOT))
        for path in outside
        if any(name == "bot.cli" or name.startswith("bot.cli.") for name in _imported(path))
    ]
    assert importers == []


def test_one_module_is_called_models_py_and_it_holds_the_tables() -> None:
    found = [str(path.relative_to(ROOT)) for path in _sources() if path.name == "models.py"]
    assert found == ["db/models.py"]
