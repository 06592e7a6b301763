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
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bot.settings import Settings, setting_fields
from trading.domain.accounts import CcxtAccount, HerenyaAccount, PaperAccount, parse_account
from trading.domain.config import BotConfig
from web.limits import TRADINGVIEW_SENDERS, WebhookLimits

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


def value_of(settings: Settings, variable: str) -> Any:
    limit = variable.removeprefix("WEBHOOK_").lower()
    if limit in WebhookLimits.model_fields:
        return getattr(settings.webhook, limit)
    return getattr(settings, variable.lower())


def test_every_setting_is_documented_as_its_variable_with_its_default() -> None:
    documented = rows("Settings")
    variables_ = setting_fields()
    assert sorted(set(variables_) - set(documented)) == [], "settings missing from docs/configuration.md"
    assert sorted(set(documented) - set(variables_)) == [], "docs/configuration.md documents settings that do not exist"
    for name, field in variables_.items():
        _type, default, meaning = documented[name]
        assert plain(default) == plain(default_of(field)), f"{name}: documented default {default!r}"
        assert meaning, f"{name}: no meaning given"


def test_the_documented_defaults_are_what_an_empty_environment_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults above are read from the model; this checks the model as the process builds it."""
    for variable in setting_fields():
        monkeypatch.delenv(variable, raising=False)
    settings = Settings(_env_file=None)
    documented = rows("Settings")
    for variable in setting_fields():
        value = value_of(settings, variable)
        if value is not None and hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        assert plain(documented[variable][1]) == plain(shown(value)), variable


def test_each_webhook_limit_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """WEBHOOK_RATE_PER_KEY and its kind are a contract: each sets its own limit, and the
    other WEBHOOK_ settings stay settings of their own."""
    given = {
        "WEBHOOK_MAX_BODY_BYTES": ("1000", 1000),
        "WEBHOOK_BODY_TIMEOUT_SECONDS": ("2.5", 2.5),
        "WEBHOOK_MAX_CONNECTIONS_PER_IP": ("7", 7),
        "WEBHOOK_RATE_PER_KEY": ("3", 3.0),
        "WEBHOOK_BURST_PER_KEY": ("4", 4),
        "WEBHOOK_RATE_PER_IP": ("5", 5.0),
        "WEBHOOK_BURST_PER_IP": ("6", 6),
        "WEBHOOK_FAILED_RATE_PER_IP": ("0.5", 0.5),
        "WEBHOOK_FAILED_BURST_PER_IP": ("8", 8),
        "WEBHOOK_FAILED_RATE_PER_KEY": ("0", 0.0),
        "WEBHOOK_FAILED_BURST_PER_KEY": ("9", 9),
        "WEBHOOK_IP_ALLOWLIST": ("tradingview, 10.0.0.0/8", [*TRADINGVIEW_SENDERS, "10.0.0.0/8"]),
        "WEBHOOK_TRUSTED_PROXIES": ("10.9.9.9,10.9.9.10", ["10.9.9.9", "10.9.9.10"]),
        "WEBHOOK_DEDUPE_MINUTES": ("11", 11),
        "WEBHOOK_LOG_MAX_ROWS": ("12", 12),
        "WEBHOOK_LOG_RETENTION_DAYS": ("13", 13.0),
        "WEBHOOK_LOG_TRIM_INTERVAL_SECONDS": ("14", 14.0),
    }
    assert {v for v in setting_fields() if v.startswith("WEBHOOK_")} == set(given), (
        "a WEBHOOK_ setting is not tried here"
    )
    for variable, (text, _) in given.items():
        monkeypatch.setenv(variable, text)
    settings = Settings(_env_file=None)
    assert {v: value_of(settings, v) for v in given} == {v: value for v, (_, value) in given.items()}
    monkeypatch.setenv("WEBHOOK_RATE_PER_KEY", "fast")
    with pytest.raises(ValidationError, match=r"webhook\.rate_per_key"):
        Settings(_env_file=None)


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
    models = (HerenyaAccount, PaperAccount, CcxtAccount)
    fields = {name for m in models for name in m.model_fields}
    assert sorted(fields - set(documented)) == [], "account fields missing from docs/configuration.md"
    assert sorted(set(documented) - fields) == [], "docs/configuration.md documents account fields that do not exist"
    for name in fields:
        kinds = [m for m in models if name in m.model_fields]
        field = kinds[0].model_fields[name]
        _type, default, meaning = documented[name]
        if name == "broker":
            assert plain(default) == "required"
        elif field.is_required():
            assert all(k.model_fields[name].is_required() for k in kinds), name
            named = ", ".join(str(k.model_fields["broker"].default) for k in kinds)
            kind = "" if len(kinds) == len(models) else f" ({named})"
            assert plain(default) == f"required{kind}", f"{name}: documented default {default!r}"
        else:
            assert plain(default) == plain(default_of(field)), f"{name}: documented default {default!r}"
        assert meaning, f"{name}: no meaning given"
