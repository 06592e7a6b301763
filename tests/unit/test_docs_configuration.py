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
from trading.domain.accounts import HerenyaAccount, PaperAccount, parse_account
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


def test_every_toml_example_in_the_page_parses_as_bots_or_accounts() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, "docs/configuration.md shows no ```toml example"
    kinds = set()
    for block in blocks:
        data = tomllib.loads(block)
        assert set(data) <= {"bots", "accounts"} and data, block
        for bot in data.get("bots", []):
            BotConfig.parse(bot)
        for account in data.get("accounts", []):
            parse_account(account)
        kinds |= set(data)
    assert kinds == {"bots", "accounts"}


def test_every_account_field_is_documented() -> None:
    documented = rows("Account fields")
    fields = set(HerenyaAccount.model_fields) | set(PaperAccount.model_fields)
    assert sorted(fields - set(documented)) == [], "account fields missing from docs/configuration.md"
    assert sorted(set(documented) - fields) == [], "docs/configuration.md documents account fields that do not exist"
    for name in fields:
        kinds = [m for m in (HerenyaAccount, PaperAccount) if name in m.model_fields]
        field = kinds[0].model_fields[name]
        _type, default, meaning = documented[name]
        if name == "broker":
            assert plain(default) == "required"
        elif field.is_required():
            kind = "" if len(kinds) == 2 else f" ({kinds[0].model_fields['broker'].default})"
            assert plain(default) == f"required{kind}", f"{name}: documented default {default!r}"
        else:
            assert plain(default) == plain(default_of(field)), f"{name}: documented default {default!r}"
        assert meaning, f"{name}: no meaning given"
