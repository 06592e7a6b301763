"""docs/configuration.md names every bot field and every setting, with the default the code has.

The tables are read back and held against BotConfig and Settings, so a field added, removed
or given a new default in the code fails here until the documentation says the same.
"""

from __future__ import annotations

import enum
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bot.settings import Settings
from trading.domain.config import BotConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
ROW = re.compile(r"^\|\s*`([A-Za-z_]+)`\s*\|([^|]*)\|([^|]*)\|([^|]*)\|\s*$")


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    assert f"\n## {title}\n" in text, f'{DOC} has no "## {title}" section'
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def rows(title: str) -> dict[str, tuple[str, str, str]]:
    """name -> (type, default, meaning) for every table row of the section."""
    found: dict[str, tuple[str, str, str]] = {}
    for line in section(title).splitlines():
        match = ROW.match(line)
        if match:
            name, *cells = (part.strip() for part in match.groups())
            assert name not in found, f"{name} is documented twice in {title}"
            found[name] = (cells[0], cells[1], cells[2])
    assert found, f'no table rows in "## {title}"'
    return found


def shown(value: Any) -> str:
    """A default as the documentation writes it, before quotes and backticks are dropped."""
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, list):
        return "empty" if not value else ",".join(map(str, value))
    return str(value)


def default_of(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return shown(field.default_factory())  # type: ignore[call-arg]
    return shown(field.default)


def plain(cell: str) -> str:
    return cell.replace("`", "").replace('"', "").strip().lower()


def test_every_bot_field_is_documented_with_its_default() -> None:
    documented = rows("Bot fields")
    fields = BotConfig.model_fields
    assert sorted(set(fields) - set(documented)) == [], "bot fields missing from docs/configuration.md"
    assert sorted(set(documented) - set(fields)) == [], "docs/configuration.md documents bot fields that do not exist"
    for name, field in fields.items():
        _type, default, meaning = documented[name]
        assert plain(default) == plain(default_of(field)), f"{name}: documented default {default!r}"
        assert meaning, f"{name}: no meaning given"


def test_every_setting_is_documented_as_its_variable_with_its_default() -> None:
    documented = rows("Settings")
    variables = {name.upper(): field for name, field in Settings.model_fields.items()}
    assert sorted(set(variables) - set(documented)) == [], "settings missing from docs/configuration.md"
    assert sorted(set(documented) - set(variables)) == [], "docs/configuration.md documents settings that do not exist"
    for name, field in variables.items():
        _type, default, meaning = documented[name]
        assert plain(default) == plain(default_of(field)), f"{name}: documented default {default!r}"
        assert meaning, f"{name}: no meaning given"


def test_the_documented_defaults_are_what_an_empty_environment_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults above are read from the model; this checks the model as the process builds it."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(_env_file=None)
    documented = rows("Settings")
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is not None and hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        assert plain(documented[name.upper()][1]) == plain(shown(value)), name


def test_every_toml_example_in_the_page_parses_as_bots() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, "docs/configuration.md shows no ```toml example"
    for block in blocks:
        bots = tomllib.loads(block)["bots"]
        assert bots
        for bot in bots:
            BotConfig.parse(bot)
