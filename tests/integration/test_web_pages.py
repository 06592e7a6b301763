"""The web desk's pages through Quart's test client, over a real SQLite database: each page
renders for a viewer, decisions need an approver (the buttons and the server agree), the
first decision wins and the loser is told who decided, alert text is escaped, and every
page carries the strict headers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.accounts_file import import_accounts, read_accounts_file
from bot.broker_registry import BrokerRegistry
from bot.settings import Settings
from db.database import Database
from db.repositories.candles import SqlCandleStore
from tests.integration.test_web_auth import Browser, WebDesk
from tests.integration.web_support import KEY, add_bot, make_deps, make_services
from tests.support.fake_broker import FakeBroker
from trading.domain.candles import Candle, SymbolCandle, minute_of
from trading.domain.market import OrderRequest
from trading.domain.people import Role
from trading.domain.records import TradeRecord
from trading.domain.values import OrderSide, PositionSide
from trading.services.actions import Actor
from web.app import create_app

PAGES = ["/", "/approvals", "/positions", "/accounts", "/signals", "/trades", "/decisions", "/audit", "/webhooks"]
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
EVIL = '<script>alert("x")</script>'


@pytest.fixture
async def desk(sqlite_database: Database) -> WebDesk:
    services = make_services(sqlite_database)
    deps = make_deps(sqlite_database, services)
    assert deps.people is not None
    await add_bot(sqlite_database, mode="approve")
    return WebDesk(sqlite_database, create_app(deps), services, deps.people)


async def signed_in(desk: WebDesk, name: str, role: Role) -> Browser:
    await desk.add(name, role)
    browser = desk.browser()
    response = await browser.login(name)
    assert response.status_code == 303
    return browser


async def text_of(response: object) -> str:
    return (await response.get_data()).decode()  # type: ignore[attr-defined]


def words(html: str) -> str:
    """A page's text as a reader sees it: no tags, one space between words."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def alert(desk: WebDesk, **fields: object) -> int:
    body = {"action": "RSI_LONG_ENTRY", "price": 53210.5} | fields
    response = await desk.app.test_client().post(f"/webhook/{KEY}", data=json.dumps(body).encode())
    answer = await response.get_json()
    assert response.status_code == 200, answer
    signal_id: int = answer["signal_id"]
    await desk.steps.advance(signal_id)
    return signal_id


async def test_every_page_renders_for_a_viewer_with_the_strict_headers(desk: WebDesk) -> None:
    await alert(desk)
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    for path in [*PAGES, "/signals/1", "/signals?bot=SA40_RSI_Bot&state=pending_approval", "/webhooks?status=200"]:
        response = await viewer.get(path)
        html = await text_of(response)
        assert response.status_code == 200, (path, html[:500])
        assert response.headers["Content-Security-Policy"] == CSP, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        # No inline script or style: every <script> has a src, no element has a style attribute.
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html and "<style" not in html, path
        assert re.search(r'<body data-seq="\d+"', html), path


async def test_pages_without_a_session_go_to_the_sign_in_form(desk: WebDesk) -> None:
    browser = desk.browser()
    for path in PAGES:
        response = await browser.get(path)
        assert response.status_code == 303 and response.headers["Location"].startswith("/login?next="), path


async def test_a_viewer_sees_no_decision_buttons_and_the_server_refuses_their_posts(desk: WebDesk) -> None:
    signal_id = await alert(desk)
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    html = await text_of(await viewer.get("/approvals"))
    assert f'data-card="{signal_id}"' in html
    assert "/approve" not in html and "/reject" not in html and "/edit" not in html
    for path in (
        f"/approvals/{signal_id}/approve",
        f"/approvals/{signal_id}/reject",
        f"/approvals/{signal_id}/edit",
        "/positions/SA40_RSI_Bot/close",
        "/halt",
        "/bots/SA40_RSI_Bot/pause",
    ):
        response = await viewer.post(path, form={"quantity": "2"})
        assert response.status_code == 403, path
    view = await desk.use_cases.queries.signal_view(signal_id)
    assert view is not None and view.signal.state.value == "pending_approval" and view.signal.edits is None
    # The Desk refused each one, and the audit log says so.
    refused = [(e.action, e.detail) for e in await desk.audit() if e.actor == "web:vera" and not e.allowed]
    assert {a for a, _ in refused} >= {"approve", "reject", "edit", "close", "halt", "pause"}, refused
    assert all("role viewer" in detail for _, detail in refused), refused


async def test_an_approver_edits_then_approves_and_the_loser_is_told_who_decided(desk: WebDesk) -> None:
    signal_id = await alert(desk)
    anna = await signed_in(desk, "anna", Role.APPROVER)
    html = await text_of(await anna.get("/approvals"))
    assert f'action="/approvals/{signal_id}/approve"' in html and "Edit" in html

    edited = await anna.post(f"/approvals/{signal_id}/edit", form={"quantity": "2"}, headers={"X-Part": "1"})
    card = await text_of(edited)
    assert edited.status_code == 200, card
    assert "Edited by anna" in card and "quantity 2" in card and "web:anna" not in card
    assert '<dd class="qty">2 market</dd>' in card

    bad = await anna.post(f"/approvals/{signal_id}/edit", form={"quantity": "two"}, headers={"X-Part": "1"})
    assert bad.status_code == 422 and "quantity must be a number above 0" in await text_of(bad)

    # Discord decides first; the web's approve loses and is told by whom, by the display name
    # the member had on Discord when deciding.
    result = await desk.use_cases.decisions.reject(signal_id, Actor("discord:42", "Zoe Trader", can_approve=True))
    assert result.ok
    late = await anna.post(f"/approvals/{signal_id}/approve", headers={"X-Part": "1"})
    card = await text_of(late)
    assert late.status_code == 409
    assert "Rejected by Zoe Trader" in words(card) and "discord:42" not in card and "member 42" not in card
    assert f'action="/approvals/{signal_id}/approve"' not in card  # no buttons on a decided card
    for page in ("/approvals/decisions", f"/signals/{signal_id}"):
        text = words(await text_of(await anna.get(page)))
        assert "rejected by Zoe Trader" in text and "member 42" not in text, (page, text)


async def test_a_reject_with_a_reason_leaves_a_trace_under_the_pending_cards(desk: WebDesk) -> None:
    rejected_id = await alert(desk)
    waiting_id = await alert(desk, price=53211)
    anna = await signed_in(desk, "anna", Role.APPROVER)
    assert 'name="reason" maxlength="500"' in await text_of(await anna.get("/approvals"))
    answer = await anna.post(
        f"/approvals/{rejected_id}/reject", form={"reason": f"spread\x00 {EVIL}"}, headers={"X-Part": "1"}
    )
    card = await text_of(answer)
    assert answer.status_code == 200, card
    assert "Rejected by anna" in words(card) and "web:anna" not in card
    assert "spread &lt;script&gt;" in card and EVIL not in card and "\x00" not in card

    # Reloaded: the decided card has left the pending ones and is listed under them.
    html = await text_of(await anna.get("/approvals"))
    pending, _, decided = html.partition("Decided in the last 24 hours")
    assert f'data-card="{waiting_id}"' in pending and f'data-card="{rejected_id}"' not in pending
    assert f'href="/signals/{rejected_id}"' in decided and "rejected by anna" in words(decided)
    assert "spread &lt;script&gt;" in decided and EVIL not in html
    part = await text_of(await anna.get("/approvals/decisions"))
    assert "rejected by anna" in words(part) and "<html" not in part
    assert "rejected by anna" in words(await text_of(await anna.get(f"/signals/{rejected_id}")))


async def test_a_form_post_without_the_csrf_token_is_refused(desk: WebDesk) -> None:
    signal_id = await alert(desk)
    anna = await signed_in(desk, "anna", Role.APPROVER)
    await anna.get("/approvals")
    response = await anna.post(f"/approvals/{signal_id}/approve", csrf=False)
    assert response.status_code == 403 and "CSRF" in await text_of(response)
    view = await desk.use_cases.queries.signal_view(signal_id)
    assert view is not None and view.signal.state.value == "pending_approval"


async def test_alert_text_is_escaped_on_every_page_and_the_passphrase_never_shown(
    desk: WebDesk, sqlite_database: Database
) -> None:
    await add_bot(
        sqlite_database, bot_name="Guarded", symbol="SA40", webhook_key="guarded_key_0001", passphrase="hunter2-hunter2"
    )
    signal_id = await alert(desk, id=EVIL, exchange='<img src=x onerror="alert(1)">')
    refused = await desk.app.test_client().post(
        "/webhook/guarded_key_0001",
        data=json.dumps(
            {"action": "RSI_LONG_ENTRY", "price": 1, "ticker": EVIL, "passphrase": "hunter2-hunter2"}
        ).encode(),
    )
    assert refused.status_code in (200, 422), await refused.get_data()
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    for path in ("/approvals", f"/signals/{signal_id}", "/webhooks", "/signals"):
        html = await text_of(await viewer.get(path))
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "hunter2" not in html, path
    card = await text_of(await viewer.get("/approvals"))
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in card
    webhooks = await text_of(await viewer.get("/webhooks"))
    assert "&lt;script&gt;" in webhooks and "***" in webhooks


async def test_the_trades_page_sums_by_bot_and_day_and_draws_the_curve(
    desk: WebDesk, sqlite_database: Database
) -> None:
    async with sqlite_database.uow() as uow:
        bot = await uow.bots.get_by_name("SA40_RSI_Bot")
        assert bot is not None
        for day, pnl in ((1, "10.5"), (1, "-3"), (2, "7.25")):
            await uow.trades.add(
                TradeRecord(
                    bot_id=bot.id,
                    bot_name=bot.name,
                    symbol="SA40",
                    side=PositionSide.LONG,
                    quantity=1,
                    entry_price=Decimal(100),
                    exit_price=Decimal(101),
                    realized_pnl=Decimal(pnl),
                    opened_at=None,
                    closed_at=datetime(2026, 11, day, 12, tzinfo=UTC),
                    position_closed=True,
                )
            )
        await uow.commit()
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    html = await text_of(await viewer.get("/trades"))
    # One point per closed trade at its UTC close, from nothing at the first one's open.
    noon1, noon2 = (int(datetime(2026, 11, d, 12, tzinfo=UTC).timestamp()) for d in (1, 2))
    assert f"data-points='[[{noon1}, 0.0], [{noon1}, 10.5], [{noon1}, 7.5], [{noon2}, 14.75]]'" in html
    assert "time in UTC" in html
    assert "+14.75" in html and "+7.50" in html and "2026-11-02" in html
    # the by-bot row: 3 trades, 2 wins, 1 loss
    assert re.search(r"SA40_RSI_Bot</td><td[^>]*>3</td><td[^>]*>2</td><td[^>]*>1</td>", html)


async def test_a_live_part_answers_alone(desk: WebDesk) -> None:
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    part = await text_of(await viewer.get("/positions?part=1"))
    assert "<html" not in part and "No open positions." in part
    whole = await text_of(await viewer.get("/positions"))
    assert "<html" in whole and 'data-live="OrderFilled' in whole


HUGE = [
    {"take_profit": "1e999999999"},
    {"quantity": "7" * 5_000},
    {"order_type": "limit", "limit_price": "1E+1000000"},
    {"stop_loss": "9" * 60_000},
    {"stop_loss": "1e-999999999"},
    {"take_profit": "0." + "0" * 5_000 + "1"},
    {"quantity": "١٢"},  # digits, but not ASCII ones
]


@pytest.mark.parametrize("form", HUGE, ids=lambda f: next(iter(f.values()))[:12])
async def test_out_of_range_edits_answer_a_short_422_never_a_500(desk: WebDesk, form: dict[str, str]) -> None:
    # Issue 31, finding 7: these answered 500, and a 60,000-digit stop came back in full.
    signal_id = await alert(desk)
    approver = await signed_in(desk, "anna", Role.APPROVER)
    await approver.get("/approvals")
    for part in ({}, {"X-Part": "1"}):
        response = await approver.post(f"/approvals/{signal_id}/edit", form=form, headers=part)
        html = await text_of(response)
        assert response.status_code == 422, html[-500:]
        assert "9" * 60 not in html and "7" * 60 not in html and "0" * 60 not in html
    assert (await desk.use_cases.queries.signal_view(signal_id)).signal.state.value == "pending_approval"  # type: ignore[union-attr]


@pytest.mark.parametrize("query", ["until=9999-12-31", "since=9999-12-31", "until=0001-01-01", "since=0001-01-01"])
async def test_a_date_at_the_end_of_the_calendar_answers_4xx_never_a_500(desk: WebDesk, query: str) -> None:
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    response = await viewer.get(f"/webhooks?{query}")
    assert 200 <= response.status_code < 500, (await text_of(response))[-300:]


@pytest.mark.parametrize("query", ["before=" + "9" * 5_000, "status=" + "5" * 5_000, "before=%EF%BC%91"])
async def test_a_huge_or_odd_number_in_a_query_answers_422_with_a_short_message(desk: WebDesk, query: str) -> None:
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    for path in ("/webhooks", "/signals"):
        if path == "/signals" and query.startswith("status"):
            continue
        response = await viewer.get(f"{path}?{query}")
        html = await text_of(response)
        assert response.status_code == 422, html[-300:]
        assert "9" * 60 not in html and "5" * 60 not in html


async def test_the_api_quotes_a_short_prefix_of_a_huge_number(desk: WebDesk) -> None:
    signal_id = await alert(desk)
    approver = await signed_in(desk, "anna", Role.APPROVER)
    for field in ("quantity", "stop_loss"):
        response = await approver.client.post(
            f"/api/signals/{signal_id}/approve",
            data=json.dumps({field: 10**4_000}).encode(),
            headers={"X-CSRF-Token": approver.csrf},
            scope_base=approver.scope,
        )
        answer = await response.get_json()
        assert response.status_code == 422 and len(answer["error"]["message"]) < 200, answer


async def test_prices_are_shown_to_the_tick_and_the_risk_positive(desk: WebDesk, sqlite_database: Database) -> None:
    async with sqlite_database.uow() as uow:
        bot = await uow.bots.get_by_name("SA40_RSI_Bot")
        assert bot is not None
        await uow.trades.add(
            TradeRecord(
                bot_id=bot.id,
                bot_name=bot.name,
                symbol="SA40",
                side=PositionSide.LONG,
                quantity=3,
                entry_price=Decimal("53211.166666666667"),
                exit_price=Decimal("53211"),
                realized_pnl=Decimal("-0.500000000001"),
                opened_at=None,
                closed_at=datetime(2026, 11, 1, 12, tzinfo=UTC),
                position_closed=True,
            )
        )
        await uow.commit()
    await alert(desk, stop_loss=53000)
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    trades = await text_of(await viewer.get("/trades"))
    assert '<td data-label="Entry" class="num">53,211.2</td><td data-label="Exit" class="num">53,211.0</td>' in trades
    assert "-0.50 ZAR" in trades and "166666" not in trades, trades[trades.find("166666") - 300 :][:400]
    cards = await text_of(await viewer.get("/approvals"))
    assert re.search(r"<dt>At risk</dt><dd>\d[\d,]*\.\d\d ZAR</dd>", cards), cards


async def test_the_overview_shows_the_day_at_a_glance(sqlite_database: Database) -> None:
    """Per bot and in total: realized today, unrealized now at the quote, what is open; and
    each broker account's balance and equity as the broker tells them."""
    broker = FakeBroker(equity=Decimal("100000"))
    services = make_services(sqlite_database, broker)
    deps = make_deps(sqlite_database, services)
    assert deps.people is not None
    desk = WebDesk(sqlite_database, create_app(deps), services, deps.people)
    bot = await add_bot(sqlite_database, mode="auto")
    await alert(desk)  # a long entry, filled at the ask 53211.0
    async with sqlite_database.uow() as uow:
        await uow.trades.add(
            TradeRecord(
                bot_id=bot.id,
                bot_name=bot.name,
                symbol="SA40",
                side=PositionSide.LONG,
                quantity=1,
                entry_price=Decimal(53000),
                exit_price=Decimal("53003.5"),
                realized_pnl=Decimal("3.5"),
                opened_at=None,
                closed_at=datetime.now(UTC),
                position_closed=True,
            )
        )
        await uow.commit()
    broker.bid = Decimal("53214.0")  # the long would close at the bid: 3.00 up
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    html = await text_of(await viewer.get("/"))
    row = html[html.index("SA40_RSI_Bot</a>") :][:1200]
    assert '<td data-label="Position" class="position">long 1 @ 53,211.0</td>' in row
    assert '<td data-label="Realized today" class="num realized up">+3.50 ZAR</td>' in row
    assert '<td data-label="Unrealized now" class="num unrealized up">+3.00 ZAR</td>' in row
    total = html[html.index('<tr class="total">') :][:800]
    assert "1 open" in total and "+3.50 ZAR" in total and "+3.00 ZAR" in total
    accounts = html[html.index('<table class="accounts stack">') :][:800]
    assert '<td data-label="Account">F1</td>' in accounts
    assert '<td data-label="Balance" class="num balance">100,000.00 ZAR</td>' in accounts
    assert '<td data-label="Equity" class="num equity">100,000.00 ZAR</td>' in accounts

    broker.faults.quote_down = True
    broker.faults.account_down = True
    html = await text_of(await viewer.get("/"))
    assert "no quote now" in html and "not all quoted" in html
    assert "could not be read now (BrokerUnavailable)" in html


JARGON = ("web:", "api:", "discord:", "break-glass", "pending approval by", "queued by", "approve mode", "_")


async def test_states_actors_and_reasons_read_as_plain_words_on_every_page(desk: WebDesk) -> None:
    approved_id = await alert(desk)
    rejected_id = await alert(desk, price=53211)
    anna = await signed_in(desk, "anna", Role.ADMIN)
    await anna.get("/approvals")
    assert (await anna.post(f"/approvals/{approved_id}/approve", headers={"X-Part": "1"})).status_code == 200
    await desk.steps.advance(approved_id)
    assert (await anna.post(f"/approvals/{rejected_id}/reject", form={"reason": "late"})).status_code == 200
    await desk.use_cases.commands.halt(Actor("api:break-glass", "the admin token", role=Role.ADMIN), "drill")
    seen = {}
    for path in [*PAGES, f"/signals/{approved_id}", f"/signals/{rejected_id}"]:
        text = words(await text_of(await anna.get(path)))
        main = text[text.index("Sign out") :]  # the page below the navigation bar
        seen[path] = main
        # Names as people read them; the bot's name and ids are the only underscores allowed.
        plain = main.replace("SA40_RSI_Bot", "").replace("RSI_LONG_ENTRY", "")  # names and bodies as sent
        found = [j for j in JARGON if j in plain]
        assert not found, (path, found, main[:2000])
    # Colour for meaning only: the steps a signal has passed are not "waiting" any more.
    timeline = await text_of(await anna.get(f"/signals/{approved_id}"))
    assert 'class="change "' in timeline and "change waiting" not in timeline
    assert "halted by the admin token" in seen["/"]
    assert "approved by anna" in seen[f"/signals/{approved_id}"]
    assert "waiting for approval" in seen[f"/signals/{approved_id}"]
    assert "queued to trade after the approval" in seen[f"/signals/{approved_id}"]
    assert "rejected by anna" in seen[f"/signals/{rejected_id}"] and "late" in seen[f"/signals/{rejected_id}"]


async def test_the_favicon_answers_without_a_session_and_every_page_links_it(desk: WebDesk) -> None:
    response = await desk.app.test_client().get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert b"<svg" in await response.get_data()
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    assert '<link rel="icon" href="/favicon.ico"' in await text_of(await viewer.get("/"))


async def test_the_webhook_log_filters_by_a_status_picked_from_a_list_with_iso_days_and_pretty_bodies(
    desk: WebDesk,
) -> None:
    await alert(desk, id="pretty-1", note={"deep": [1, 2.5]})
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    html = await text_of(await viewer.get("/webhooks?status=422"))
    status = re.search(r'<select name="status">(.*?)</select>', html, re.S)
    assert status is not None, html
    assert '<option value="">any status</option>' in status.group(1)
    assert '<option value="422" selected>422 unusable alert</option>' in status.group(1)
    assert '<option value="200">200 accepted</option>' in status.group(1)
    assert 'type="date"' not in html  # a date box shows the browser's own order (mm/dd/yyyy)
    assert 'name="since" placeholder="YYYY-MM-DD"' in html and "From (UTC)" in html
    html = await text_of(await viewer.get("/webhooks"))
    # Pretty-printed, as sent: every key on its own line, numbers exactly as they came.
    assert "{\n  &#34;action&#34;: &#34;RSI_LONG_ENTRY&#34;,\n  &#34;price&#34;: 53210.5," in html
    assert "&#34;deep&#34;: [\n      1,\n      2.5\n    ]" in html
    assert '<details class="body"><summary>' in html


def test_a_body_is_pretty_printed_keeping_numbers_and_repeated_keys_and_odd_text_as_it_is() -> None:
    from web.pages import pretty_json

    assert (
        pretty_json('{"a": 1.10, "a": 2, "b": [], "c": {}}') == '{\n  "a": 1.10,\n  "a": 2,\n  "b": [],\n  "c": {}\n}'
    )
    assert pretty_json("not json {") == "not json {"
    deep = "[" * 5000 + "]" * 5000
    assert pretty_json(deep) == deep
    assert pretty_json('"\\u00e9 <b>"') == '"é <b>"'


async def test_the_accounts_page_shows_balance_equity_currency_reach_and_positions(
    sqlite_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env: main's variables are unset
    monkeypatch.delenv("SD_PAGE_KEY", raising=False)
    path = tmp_path / "accounts.toml"
    path.write_text(
        '[[accounts]]\nname = "demo"\nbroker = "paper"\ncurrency = "USD"\nstarting_balance = 2500\n\n'
        '[[accounts]]\nname = "main"\nbroker = "herenya"\nbase_url = "http://127.0.0.1:9"\naccount_id = "A1"\n'
        'api_key_env = "SD_PAGE_KEY"\napi_secret_env = "SD_PAGE_SECRET"\n',
        encoding="utf-8",
    )
    await import_accounts(sqlite_database, path, read_accounts_file(path))
    registry = BrokerRegistry(Settings(_env_file=None, database_url=sqlite_database.url), sqlite_database)  # type: ignore[call-arg]
    await registry.load()
    order = OrderRequest("sd-1-0", "SA40", OrderSide.SELL, 3, reference_price=Decimal("53210.5"))
    await registry("demo").place_order(order)
    services = make_services(sqlite_database)
    deps = make_deps(sqlite_database, services, accounts=registry.statuses)
    assert deps.people is not None
    desk = WebDesk(sqlite_database, create_app(deps), services, deps.people)
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    response = await viewer.get("/accounts")
    html = await text_of(response)
    assert response.status_code == 200
    rows = {name: words(row) for name, row in re.findall(r'<tr data-account="([^"]+)">(.*?)</tr>', html, re.DOTALL)}
    assert list(rows) == ["Herenya", "Paper", "demo", "main"]
    assert rows["demo"] == (
        "demo paper book from 2500 paper USD reachable 2,500.00 USD 2,500.00 USD SA40 short 3 @ 53,210.5"
    )
    assert rows["Paper"].startswith("Paper paper book PAPER from 100000 paper settings ZAR reachable 100,000.00 ZAR")
    assert rows["Herenya"].endswith("not configured – – none")
    assert "unreachable" in rows["main"] and "SD_PAGE_KEY and SD_PAGE_SECRET are not set" in rows["main"]
    assert 'href="/accounts" aria-current="page"' in html
    await registry.aclose()


async def test_a_card_draws_the_chart_of_the_stored_candles_from_five(desk: WebDesk) -> None:
    # Issue 30, item 5: the web card draws the same chart as the Discord card's PNG.
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    first = await alert(desk)
    html = await text_of(await viewer.get("/approvals"))
    assert "0 one-minute candle(s) stored; the chart is drawn from 5." in words(html)
    assert "card-chart" not in html

    now = minute_of(datetime.now(UTC))
    closes = [53200, 53205, 53190, 53215, 53220, 53210]
    await SqlCandleStore(desk.db).save(
        [
            SymbolCandle("SA40", Candle(now - timedelta(minutes=6 - i), *(Decimal(p) for p in (c, c + 5, c - 5, c))))
            for i, c in enumerate(closes)
        ]
    )
    for path in ("/approvals", f"/approvals/{first}/card"):  # the page, and the card its script refetches
        html = await text_of(await viewer.get(path))
        chart = re.search(r"class=\"chart card-chart\" data-points='([^']*)' data-labels='([^']*)'", html)
        assert chart is not None, path
        # The bot has no stop or target: the closes, the alert's price and the quote now.
        assert json.loads(chart.group(2)) == ["Close", "Alert", "Quote now"]
        points = json.loads(chart.group(1))
        assert [p[1] for p in points] == closes
        assert {(p[2], p[3]) for p in points} == {(53210.5, 53211.0)}  # the fake broker's ask


async def test_a_pending_card_shows_the_quote_its_drift_and_a_countdown_and_its_live_part_follows_the_quote(
    sqlite_database: Database,
) -> None:
    # Issue 29, item 5: the web card shows the live quote, its drift and the time left; the
    # page's script ticks the countdown and fetches /approvals/live for the quote and drift.
    broker = FakeBroker()
    services = make_services(sqlite_database, broker)
    deps = make_deps(sqlite_database, services, approval_card_refresh_seconds=2.0)
    assert deps.people is not None
    await add_bot(sqlite_database, mode="approve", approval_timeout_minutes=15)
    desk = WebDesk(sqlite_database, create_app(deps), services, deps.people)
    viewer = await signed_in(desk, "vera", Role.VIEWER)
    signal_id = await alert(desk, price=53200)

    for path in ("/approvals", f"/approvals/{signal_id}/card"):  # the page, and the card its script refetches
        html = await text_of(await viewer.get(path))
        # The ask 53,211.0 is 11.0 above the alert's 53,200: 11 / 53,200 = +0.0207%.
        # The spans the page's script fills in from /approvals/live.
        quote = "<span data-quote>53,211.0</span><span data-drift>, +11.0 (+0.02%) above the alert</span>"
        assert f"<dt>Quote now</dt><dd>{quote}</dd>" in html, path
        countdown = re.search(r'<span class="countdown" data-left="(\d+)">(\d+)m (\d\d)s left</span>', html)
        assert countdown is not None, path
        left, minutes, seconds = (int(g) for g in countdown.groups())
        assert 14 * 60 <= left < 15 * 60 and (minutes, seconds) == divmod(left, 60)
    assert 'data-live-every="2.0"' in await text_of(await viewer.get("/approvals"))

    broker.ask = Decimal("53180")  # now below the alert: 20 / 53,200 = -0.0376%
    response = await viewer.get("/approvals/live")
    assert response.status_code == 200
    (live,) = (await response.get_json())["cards"]
    assert (live["signal_id"], live["quote"], live["drift"]) == (
        signal_id,
        "53,180.0",
        "-20.0 (-0.04%) below the alert",
    )
    assert 14 * 60 <= live["seconds_left"] < 15 * 60

    await desk.use_cases.decisions.reject(signal_id, Actor("web:vera", "vera", True))
    assert (await (await viewer.get("/approvals/live")).get_json()) == {"cards": []}  # decided: nothing live
