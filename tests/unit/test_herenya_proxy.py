"""Which proxy the environment names for the broker's URL (brokers/herenya/client.py)."""

from __future__ import annotations

import pytest

from brokers.herenya.client import environment_proxy

NAMES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.parametrize(
    ("environment", "url", "proxy"),
    [
        ({}, "https://api.herenya.example", None),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "https://api.herenya.example", "http://proxy:3128"),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "http://api.herenya.example", None),
        ({"HTTP_PROXY": "http://plain:8080"}, "http://api.herenya.example", "http://plain:8080"),
        ({"ALL_PROXY": "socks5://any:1080"}, "https://api.herenya.example", "socks5://any:1080"),
        (
            {"HTTPS_PROXY": "http://proxy:3128", "ALL_PROXY": "socks5://any:1080"},
            "https://api.herenya.example",
            "http://proxy:3128",
        ),
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "herenya.example"}, "https://api.herenya.example", None),
        (
            {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "other.example"},
            "https://api.herenya.example",
            "http://proxy:3128",
        ),
        ({"https_proxy": "http://lower:3128"}, "https://api.herenya.example:8443/base", "http://lower:3128"),
    ],
)
def test_environment_proxy(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str, proxy: str | None
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert environment_proxy(url) == proxy
