"""The web desk in a real browser: headless Chromium (Debian's chromium and chromium-driver,
through Selenium) against the real `signaldesk serve` on loopback, trading on the Herenya
simulator in its own process.

tests/with_postgres.sh (make test) installs chromium and chromium-driver when they are
missing; without them these tests fail (they never skip). Each page is saved as a
screenshot in docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from tests.e2e.procs import (
    ROOT,
    Processes,
    Serve,
    Simulator,
    now_iso,
    processes,
    sim_config,
    wait_until,
    write_toml_tables,
)
from tests.support.cli import run_cli

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"
PASSPHRASE = "tv-passphrase-0451"
BOT = {
    "bot_name": "SA40_Desk",
    "symbol": "SA40",
    "mode": "approve",
    "base_position_size": 1,
    "allow_pyramiding": True,
    "max_positions": 5,
    "webhook_key": "sa40_desk_key_0001",
    "passphrase": PASSPHRASE,
    "broker_account": "Herenya",
    "max_slippage_pct": "0.5",
    "approval_timeout_minutes": 15,
}
PRICE = "53210.5"
EVIL_ID = "<script>window.__pwned = 1</script>"
EVIL_EXCHANGE = '<img src=x onerror="window.__pwned = 2">'


@dataclass
class Desk:
    serve: Serve
    sim: Simulator
    env: dict[str, str]
    workdir: Path
    alerts: int = 0

    def alert(self, **fields: Any) -> int:
        self.alerts += 1
        body = {
            "action": "RSI_LONG_ENTRY",
            "price": PRICE,
            "time": now_iso(),
            "passphrase": PASSPHRASE,
            "id": f"web-{self.alerts}",
        } | fields
        answer = self.serve.webhook(str(BOT["webhook_key"]), body)
        assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text
        signal_id: int = answer.json()["signal_id"]
        return signal_id

    def add_person(self, name: str, role: str) -> None:
        # In this process: the command's own process is not what these tests are about.
        argv = ("users", "add", name, "--role", role, "--password-stdin")
        done = run_cli(*argv, env=self.env, stdin=PASSWORD + "\n", cwd=self.workdir)
        assert done.code == 0, done.out + done.err


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    workdir = tmp_path_factory.mktemp("webdesk")
    with processes(workdir) as procs:
        yield start_desk(procs, workdir)


def start_desk(procs: Processes, workdir: Path) -> Desk:
    sim = procs.simulator(config=sim_config(workdir / "sim.toml", symbols={"SA40": PRICE}))
    sim.set_quote("SA40", "53210", "53211")
    # A paper account of an accounts file beside the settings' two, for the Accounts page.
    demo = {"name": "demo", "broker": "paper", "currency": "USD", "starting_balance": 25000, "quotes_from": "Herenya"}
    env = procs.serve_env(
        f"sqlite+aiosqlite:///{workdir / 'signaldesk.db'}",
        sim,
        SIGNALDESK_SECRET_KEY="e2e-web-desk-secret-key-0123456789abcdef",
        ACCOUNTS_FILE=str(write_toml_tables(workdir / "accounts.toml", "accounts", [demo])),
    )
    procs.import_bots(env, [BOT])
    desk = Desk(procs.serve(env), sim, env, workdir)
    desk.add_person("alice", "admin")
    desk.add_person("vera", "viewer")
    return desk


def chromium(user_data: Path, width: int = 1280, height: int = 800, *, phone: bool = False) -> WebDriver:
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        "the browser tests need Debian's chromium and chromium-driver; tests/with_postgres.sh "
        "(make test) installs them: apt-get install -y chromium chromium-driver"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={user_data}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    if phone:  # a window cannot be narrower than ~500 px: a phone is emulated instead
        options.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}}
        )
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    return driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    driver = chromium(tmp_path_factory.mktemp("chromium"))
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver: WebDriver, base: str, name: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.find_element(By.NAME, "username").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "span.who"), 10, f"{name} to be signed in")
    assert name in driver.find_element(By.CSS_SELECTOR, "span.who").text


def open_live(driver: WebDriver, url: str) -> None:
    """Open a page and wait until its event stream is connected; mark the window so that a
    reload would show (the mark would be gone)."""
    driver.get(url)
    wait_until(lambda: driver.find_element(By.ID, "live").get_attribute("data-state") == "open", 10, "the live stream")
    driver.execute_script("window.__sameLoad = true;")


def not_reloaded(driver: WebDriver) -> bool:
    return bool(driver.execute_script("return window.__sameLoad === true;"))


def card(driver: WebDriver, signal_id: int) -> WebElement | None:
    found = driver.find_elements(By.CSS_SELECTOR, f'[data-card="{signal_id}"]')
    return found[0] if found else None


def click_in_card(driver: WebDriver, signal_id: int, selector: str) -> None:
    """Click a control of a card, again if the card was drawn anew under the click (a live
    refresh replaces the whole card)."""

    def clicked() -> bool:
        try:
            element = card(driver, signal_id)
            if element is None:
                return False
            element.find_element(By.CSS_SELECTOR, selector).click()
            return True
        except StaleElementReferenceException:
            return False

    wait_until(clicked, 5, f"{selector} on card {signal_id}")


def card_text(driver: WebDriver, signal_id: int) -> str:
    try:
        element = card(driver, signal_id)
        return element.text if element is not None else ""
    except StaleElementReferenceException:
        return ""


def card_says(driver: WebDriver, signal_id: int, *parts: str, buttons: bool = True) -> bool:
    """Whether one reading of the card holds every part (and, with buttons=False, no button):
    a live update may draw the card anew between two readings."""
    try:
        element = card(driver, signal_id)
        if element is None:
            return False
        text = element.text
        if not buttons and element.find_elements(By.CSS_SELECTOR, "button"):
            return False
    except StaleElementReferenceException:
        return False
    return all(part in text for part in parts)


def shot(driver: WebDriver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), path
    assert path.stat().st_size > 5_000, f"{path} looks empty"


def post_from_page(driver: WebDriver, path: str, *, with_token: bool) -> int:
    """A POST sent by the page itself (its cookies), with or without the page's CSRF token."""
    status: int = driver.execute_async_script(
        """
        const [path, withToken, done] = arguments;
        const token = document.querySelector('meta[name="csrf-token"]').content;
        const headers = {"Content-Type": "application/x-www-form-urlencoded"};
        if (withToken) headers["X-CSRF-Token"] = token;
        fetch(path, {method: "POST", headers, body: "quantity=3", credentials: "same-origin"})
          .then(r => done(r.status), () => done(-1));
        """,
        path,
        with_token,
    )
    return status


def position_qty(driver: WebDriver) -> str:
    try:
        return str(driver.find_element(By.CSS_SELECTOR, '[data-position="SA40_Desk"] .qty').text)
    except (StaleElementReferenceException, NoSuchElementException):
        return ""


def too_wide(driver: WebDriver) -> list[str]:
    """The outermost elements that stick out past the window's right edge (inside a scrolling
    box or not: a column cut off at the edge is as hidden as one off the page)."""
    found: list[str] = driver.execute_script(
        """
        const out = [];
        for (const el of document.querySelectorAll("body *")) {
          if (el.getBoundingClientRect().right > window.innerWidth + 1) {
            if (!out.some(o => o.el.contains(el))) out.push({el, name: el.tagName + "." + el.className});
          }
        }
        return out.slice(0, 5).map(o => o.name + " " + Math.round(o.el.getBoundingClientRect().right));
        """
    )
    return found


def sim_orders(desk: Desk, signal_id: int) -> list[dict[str, Any]]:
    return [o for o in desk.sim.book() if str(o["client_order_id"]).startswith(f"sd-{signal_id}-")]


# ---------------------------------------------------------------------------- the tests, in order


def test_a_new_alert_appears_live_then_edit_the_quantity_approve_and_the_position_shows_it(
    desk: Desk, browser: WebDriver
) -> None:
    base = desk.serve.base_url
    browser.get(f"{base}/login")
    shot(browser, "login")
    sign_in(browser, base, "alice")
    open_live(browser, f"{base}/approvals")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-card]")

    signal_id = desk.alert()
    wait_until(
        lambda: card_says(browser, signal_id, "Waiting for approval", "Quote now", "Position"),
        5,
        "the new card with its quote and position, without a reload",
    )
    assert not_reloaded(browser)
    shot(browser, "approvals")

    element = card(browser, signal_id)
    assert element is not None
    element.find_element(By.CSS_SELECTOR, "details.edit summary").click()
    element.find_element(By.NAME, "quantity").send_keys("2")
    element.find_element(By.CSS_SELECTOR, "button[name=save]").click()
    wait_until(lambda: "Edited by alice: quantity 2" in card_text(browser, signal_id), 5, "the edit on the card")
    # The card may be drawn again meanwhile (the edit's own event): read it once it settles.
    wait_until(lambda: "2 market" in card_text(browser, signal_id), 5, "the edited quantity on the card")

    click_in_card(browser, signal_id, "button[name=approve]")
    wait_until(lambda: "Approved by alice" in card_text(browser, signal_id), 5, "the card to say alice approved")
    desk.serve.wait_state(signal_id, {"executed"}, 15)
    wait_until(lambda: "Executed" in card_text(browser, signal_id), 5, "the card to show the execution")
    assert not_reloaded(browser)

    # Once: one order at the simulator, of the edited quantity, and no second one later.
    orders = wait_until(lambda: sim_orders(desk, signal_id), 5, "the order at the simulator")
    time.sleep(1.0)
    orders = sim_orders(desk, signal_id)
    assert len(orders) == 1 and int(orders[0]["quantity"]) == 2, orders
    assert desk.sim.positions() == {"SA40": 2}

    browser.get(f"{base}/positions")
    row = browser.find_element(By.CSS_SELECTOR, '[data-position="SA40_Desk"]')
    assert row.find_element(By.CSS_SELECTOR, ".qty").text == "2" and "long" in row.text
    shot(browser, "positions")


def test_a_decision_made_elsewhere_resolves_the_card_within_a_second_and_a_fill_updates_the_position(
    desk: Desk, browser: WebDriver
) -> None:
    base = desk.serve.base_url
    open_live(browser, f"{base}/approvals")
    signal_id = desk.alert()
    wait_until(lambda: "Waiting for approval" in card_text(browser, signal_id), 5, "the new card")

    # Rejected through the API (as Discord would: another front-end on the same Desk).
    answer = desk.serve.api("POST", f"/signals/{signal_id}/reject", json={})
    assert answer.status_code == 200, answer.text
    decided = time.monotonic()
    wait_until(
        lambda: card_says(browser, signal_id, "Rejected by the admin token", buttons=False),
        1.0,
        "the card to resolve, its buttons gone",
    )
    took = time.monotonic() - decided
    assert took < 1.0 and not_reloaded(browser)

    # A fill made elsewhere updates the open Positions page.
    open_live(browser, f"{base}/positions")
    signal_id = desk.alert()
    desk.serve.wait_state(signal_id, {"pending_approval"}, 10)
    assert desk.serve.api("POST", f"/signals/{signal_id}/approve", json={}).status_code == 200
    wait_until(
        lambda: position_qty(browser) == "3",
        5,
        "the position to grow to 3 on the open page",
    )
    assert not_reloaded(browser)


def test_a_reject_with_a_reason_shows_on_the_card_and_in_the_decisions_without_a_reload(
    desk: Desk, browser: WebDriver
) -> None:
    base = desk.serve.base_url
    open_live(browser, f"{base}/approvals")
    signal_id = desk.alert()
    element = wait_until(lambda: card(browser, signal_id), 5, "the new card")
    element.find_element(By.NAME, "reason").send_keys("<b>news</b> at 14:30")
    element.find_element(By.CSS_SELECTOR, "button[name=reject]").click()

    wait_until(
        lambda: card_says(browser, signal_id, "Rejected by alice", "Reason: <b>news</b> at 14:30"),
        5,
        "the card to say alice rejected, with her reason",
    )

    def listed() -> str:
        try:
            return str(browser.find_element(By.CSS_SELECTOR, ".decisions").text)
        except (StaleElementReferenceException, NoSuchElementException):
            return ""

    wait_until(lambda: f"#{signal_id}" in listed(), 5, "the decision listed under the cards")
    assert "rejected by alice" in listed() and "<b>news</b> at 14:30" in listed()
    assert not_reloaded(browser)
    assert desk.serve.signal(signal_id)["reason"] == "<b>news</b> at 14:30"
    browser.refresh()  # reloaded: the card has left the pending ones, the decision stays listed
    assert card(browser, signal_id) is None and f"#{signal_id}" in listed()


def test_a_viewer_sees_no_decision_buttons_and_forged_or_tokenless_posts_are_refused(
    desk: Desk, browser: WebDriver
) -> None:
    base = desk.serve.base_url
    signal_id = desk.alert()
    desk.serve.wait_state(signal_id, {"pending_approval"}, 10)

    # Without the CSRF token even an admin's POST is refused.
    open_live(browser, f"{base}/approvals")
    wait_until(lambda: card(browser, signal_id), 5, "the card")
    assert post_from_page(browser, f"/approvals/{signal_id}/approve", with_token=False) == 403
    assert desk.serve.signal(signal_id)["state"] == "pending_approval"

    sign_in(browser, base, "vera")
    open_live(browser, f"{base}/approvals")
    element = wait_until(lambda: card(browser, signal_id), 5, "the card for the viewer")
    assert "Waiting for approval" in element.text
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-card] button, [data-card] form")
    # A forged POST, with the viewer's own valid CSRF token: the server refuses the role.
    for path in (f"/approvals/{signal_id}/approve", f"/approvals/{signal_id}/edit", "/positions/SA40_Desk/close"):
        assert post_from_page(browser, path, with_token=True) == 403, path
    assert desk.serve.signal(signal_id)["state"] == "pending_approval"
    assert desk.serve.signal(signal_id)["edits"] is None
    browser.get(f"{base}/positions")
    assert not browser.find_elements(By.LINK_TEXT, "Close…")
    sign_in(browser, base, "alice")
    assert desk.serve.api("POST", f"/signals/{signal_id}/reject", json={}).status_code == 200


def test_an_alert_holding_markup_renders_as_text_and_runs_nothing(desk: Desk, browser: WebDriver) -> None:
    base = desk.serve.base_url
    open_live(browser, f"{base}/approvals")
    signal_id = desk.alert(id=EVIL_ID, exchange=EVIL_EXCHANGE)
    wait_until(lambda: "Waiting for approval" in card_text(browser, signal_id), 5, "the card")

    def check(scope: str) -> None:
        texts = [e.text for e in browser.find_elements(By.CSS_SELECTOR, f"{scope} .alert-text")]
        assert EVIL_ID in texts and EVIL_EXCHANGE in texts, texts
        assert not browser.find_elements(By.CSS_SELECTOR, f"{scope} script, {scope} img")
        assert browser.execute_script("return window.__pwned === undefined;")

    check(f'[data-card="{signal_id}"]')  # inserted live
    browser.get(f"{base}/signals/{signal_id}")  # rendered by the server
    check("main")
    browser.get(f"{base}/webhooks")
    body = browser.find_element(By.CSS_SELECTOR, "pre.body").get_attribute("textContent") or ""
    assert EVIL_ID in body and PASSPHRASE not in browser.page_source and "***" in body
    assert browser.execute_script("return window.__pwned === undefined;")
    assert desk.serve.api("POST", f"/signals/{signal_id}/reject", json={}).status_code == 200


def test_close_with_a_confirm_and_every_page_draws(desk: Desk, browser: WebDriver, tmp_path: Path) -> None:
    base = desk.serve.base_url
    if not desk.sim.positions():  # run alone: open one first
        signal_id = desk.alert()
        desk.serve.wait_state(signal_id, {"pending_approval"}, 10)
        assert desk.serve.api("POST", f"/signals/{signal_id}/approve", json={}).status_code == 200
        desk.serve.wait_state(signal_id, {"executed"}, 15)
    sign_in(browser, base, "alice")
    browser.get_log("browser")  # drained: the earlier tests' forged posts were refused on purpose
    browser.get(f"{base}/positions")
    browser.find_element(By.LINK_TEXT, "Close…").click()
    assert "Close SA40_Desk" in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.CSS_SELECTOR, "button[name=confirm]").click()
    wait_until(lambda: desk.sim.positions() == {}, 15, "the position to close at the simulator")
    wait_until(lambda: desk.serve.trades(), 10, "the closed trade")

    browser.get(f"{base}/")
    assert "SA40_Desk" in browser.page_source and "approve" in browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, "button.stop")  # an admin may halt
    assert "broker" in browser.find_element(By.CSS_SELECTOR, ".health").text
    shot(browser, "overview")

    browser.get(f"{base}/signals")
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.signals tbody tr")) >= 2  # the entry and the close
    shot(browser, "signals")
    browser.get(f"{base}/signals/1")
    timeline = browser.find_element(By.CSS_SELECTOR, ".timeline").text
    assert "executed" in timeline and ("approved by alice" in timeline or "approved by the admin token" in timeline)
    assert "web:" not in timeline and "api:" not in timeline and "break-glass" not in timeline
    assert "sd-1-1" in browser.page_source  # its order, and the fill below it
    shot(browser, "signal")

    browser.get(f"{base}/trades")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#equity canvas"), 5, "uPlot's canvas")
    size = browser.execute_script("const c = document.querySelector('#equity canvas'); return [c.width, c.height];")
    assert size[0] > 200 and size[1] > 100, size
    # Drawn per closed trade in UTC, and it says so (uPlot would use the browser's zone).
    assert "Closed (UTC)" in browser.find_element(By.CSS_SELECTOR, "#equity .u-legend").text
    shot(browser, "trades")

    # The decision ledger (issue 30): a row for the bot with its decisions, and the note on
    # how the figures are computed.
    browser.get(f"{base}/decisions")
    row = browser.find_element(By.CSS_SELECTOR, "#ledger tr[data-bot=SA40_Desk]")
    assert int(row.find_element(By.CSS_SELECTOR, "td[data-label=Approved]").text) >= 1
    assert "Edge = desk − bot alone" in browser.find_element(By.CSS_SELECTOR, "p.note").text
    shot(browser, "decisions")

    browser.get(f"{base}/audit")
    audit = browser.find_element(By.CSS_SELECTOR, "table.audit").text
    assert "alice" in audit and "close" in audit and "web:alice" not in audit
    shot(browser, "audit")
    browser.get(f"{base}/webhooks")
    shot(browser, "webhooks")
    browser.get(f"{base}/accounts")
    reach = {
        row.get_attribute("data-account"): row.find_element(By.CSS_SELECTOR, "td[data-label=Reachable]").text
        for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-account]")
    }
    assert reach == {"Herenya": "reachable", "Paper": "reachable", "demo": "reachable"}, reach
    shot(browser, "accounts")

    # The browser ran into no error on any page: no Content-Security-Policy refusal, no 404
    # (the favicon included).
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not errors, errors
    # Headless Chromium does not ask for icons itself: the page's own icon link is fetched.
    icon = browser.execute_async_script(
        """
        const done = arguments[0];
        const link = document.querySelector('link[rel="icon"]');
        fetch(link.href).then(r => done([r.status, r.headers.get("content-type")]), () => done([-1, ""]));
        """
    )
    assert icon[0] == 200 and icon[1].startswith("image/svg+xml"), icon
    browser.get(f"{base}/webhooks")
    body = browser.find_element(By.CSS_SELECTOR, "details.body")
    body.find_element(By.TAG_NAME, "summary").click()
    pretty = body.find_element(By.CSS_SELECTOR, "pre.body")
    assert pretty.is_displayed() and '{\n  "action": ' in pretty.text, pretty.text

    # On a phone (390x844) every page fits: nothing sticks out, and what a trader acts on or
    # reads first (a position's Unrealized and Close, a signal's State and Reason, a request's
    # Outcome and Reason, a bot's Pause) is on screen, not cut off at the right edge.
    held = desk.alert()  # an open position and a waiting card, so those pages have rows to show
    desk.serve.wait_state(held, {"pending_approval"}, 10)
    assert desk.serve.api("POST", f"/signals/{held}/approve", json={}).status_code == 200
    desk.serve.wait_state(held, {"executed"}, 15)
    waiting = desk.alert()
    desk.serve.wait_state(waiting, {"pending_approval"}, 10)
    needed = {
        "/": ["td[data-label=State]", "button[name=pause]"],
        "/approvals": [f'[data-card="{waiting}"] button[name=approve]', f'[data-card="{waiting}"] button[name=reject]'],
        "/positions": ["td[data-label=Unrealized]", "td[data-label=Stop]", "a.button.stop"],
        "/accounts": ["td[data-label=Reachable]", "td[data-label=Equity]", "td[data-label='Open positions']"],
        "/signals": ["td[data-label=State]", "td[data-label=Reason]"],
        f"/signals/{held}": [".timeline li", "td[data-label=Status]"],
        "/trades": ["td[data-label=Realized]"],
        "/decisions": ["td[data-label=Edge]", "td[data-label=Approved]"],
        "/audit": ["td[data-label=Who]", "td[data-label=Detail]"],
        "/webhooks": ["td[data-label=Outcome]", "td[data-label=Reason]"],
    }
    phone = chromium(tmp_path / "phone", 390, 844, phone=True)
    try:
        sign_in(phone, base, "alice")
        for path, selectors in needed.items():
            phone.get(f"{base}{path}")
            assert phone.execute_script("return window.innerWidth;") == 390
            assert phone.execute_script("return document.documentElement.scrollWidth;") <= 390, (
                f"{path} scrolls sideways on a phone: {too_wide(phone)}"
            )
            assert too_wide(phone) == [], f"{path} has elements past the right edge on a phone"
            for selector in selectors:
                element = phone.find_element(By.CSS_SELECTOR, selector)
                box = element.rect
                assert element.is_displayed() and box["width"] > 0, (path, selector)
                assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (path, selector, box)
            name = {"/": "overview", f"/signals/{held}": "signal"}.get(path, path.strip("/"))
            shot(phone, f"{name}-phone")
    finally:
        phone.quit()
    assert desk.serve.api("POST", f"/signals/{waiting}/reject", json={}).status_code == 200


def test_a_next_holding_a_tab_or_a_newline_keeps_chromium_on_the_desk(desk: Desk, browser: WebDriver) -> None:
    # Issue 31, finding 2: Location "/\t/evil.example" made Chromium drop the tab and leave
    # for //evil.example; a newline answered 500.
    base = desk.serve.base_url
    here = urlsplit(base).netloc
    sign_in(browser, base, "vera")
    for target in ("/%09/evil.example/", "/%0A/evil.example/", "/%0D%0A/evil.example/", "/%5C/evil.example/"):
        try:
            browser.get(f"{base}/login?next={target}")  # already signed in: straight to next
        except WebDriverException as e:  # e.g. net::ERR_NAME_NOT_RESOLVED for evil.example
            raise AssertionError(f"Chromium left the desk for next={target}: {e.msg}") from None
        assert urlsplit(browser.current_url).netloc == here, (target, browser.current_url)
        assert browser.find_elements(By.CSS_SELECTOR, "span.who"), (target, browser.page_source[:300])
    # Signed out, through the form that carries next along.
    browser.delete_all_cookies()
    browser.get(f"{base}/login?next=/%09/evil.example/")
    browser.find_element(By.NAME, "username").send_keys("vera")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    wait_until(
        lambda: browser.find_elements(By.CSS_SELECTOR, "span.who") or urlsplit(browser.current_url).netloc != here,
        10,
        "the sign-in to land somewhere",
    )
    assert urlsplit(browser.current_url).netloc == here, browser.current_url


def test_a_card_draws_its_chart_once_five_candles_are_stored(desk: Desk, browser: WebDriver) -> None:
    # Issue 30, item 5: the web card draws the chart the Discord card carries as a PNG.
    import asyncio
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from db.database import Database
    from db.repositories.candles import SqlCandleStore
    from trading.domain.candles import Candle, SymbolCandle, minute_of

    async def store() -> None:
        database = Database(desk.env["DATABASE_URL"])
        now = minute_of(datetime.now(UTC))
        try:
            await SqlCandleStore(database).save(
                [
                    SymbolCandle(
                        "SA40",
                        Candle(now - timedelta(minutes=8 - i), *(Decimal(p) for p in (53200, 53215, 53190, 53205))),
                    )
                    for i in range(8)
                ]
            )
        finally:
            await database.dispose()

    asyncio.run(store())
    base = desk.serve.base_url
    sign_in(browser, base, "alice")
    browser.get_log("browser")  # drained: only this page's messages count below
    browser.get(f"{base}/approvals")
    waiting = desk.alert()
    desk.serve.wait_state(waiting, {"pending_approval"}, 10)
    # The card arrives live, with its chart drawn by the page's script.
    wait_until(
        lambda: browser.find_elements(By.CSS_SELECTOR, f'[data-card="{waiting}"] .card-chart canvas'), 10, "the chart"
    )
    legend = browser.find_element(By.CSS_SELECTOR, f'[data-card="{waiting}"] .card-chart .u-legend').text
    assert "Close" in legend and "Alert" in legend and "Quote now" in legend, legend
    assert browser.get_log("browser") == []  # no script error
    assert desk.serve.api("POST", f"/signals/{waiting}/reject", json={}).status_code == 200


def test_a_pending_card_counts_down_and_follows_the_quote_without_a_reload(desk: Desk, browser: WebDriver) -> None:
    # Issue 29, item 5: the countdown ticks in the page; the quote and its drift follow the
    # market through /approvals/live (every APPROVAL_CARD_REFRESH_SECONDS, 5 by default).
    base = desk.serve.base_url
    sign_in(browser, base, "alice")
    open_live(browser, f"{base}/approvals")
    waiting = desk.alert()
    desk.serve.wait_state(waiting, {"pending_approval"}, 10)

    def countdown() -> str:
        found = re.search(r"· (\d+m \d\ds left)", card_text(browser, waiting))
        return found.group(1) if found else ""

    first = wait_until(countdown, 10, "the card's countdown")
    assert first.startswith("14m "), first  # approval_timeout_minutes 15
    wait_until(lambda: countdown() not in ("", first), 5, "the countdown to tick")
    desk.sim.set_quote("SA40", "53230", "53231")
    try:
        # 53,231 - 53,210.5 = +20.5, / 53,210.5 = +0.04%.
        wait_until(
            lambda: "53,231.0, +20.5 (+0.04%) above the alert" in card_text(browser, waiting),
            15,
            "the new quote and its drift on the card",
        )
        assert not_reloaded(browser)
    finally:
        desk.sim.set_quote("SA40", "53210", "53211")  # as the other tests found it
    assert desk.serve.api("POST", f"/signals/{waiting}/reject", json={}).status_code == 200
