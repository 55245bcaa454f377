"""The console in a real browser (Chromium through Playwright).

One `payouts serve` for the whole run (no Stripe keys: SQLite in a temp dir
and the in-process stripe-sandbox), then one ordered story, as the issue
tells it, by a merchant's admin in one browser context:

  1. sign in by the link `serve` prints and land on the dashboard;
  2. connect Stripe through the sandbox's authorize page;
  3. create a program and enroll two partners in the console, and onboard
     each through the sandbox's hosted onboarding page until it is ready;
  4. record conversions through the JSON API, then finalize the period and
     build its batch in the console;
  5. review the manifest, approve behind the confirm page;
  6. run the payouts with one transfer failing for an insufficient balance,
     watch the progress section until done, retry the failed item;
  7. follow a transfer link to Stripe's dashboard (intercepted: nothing
     leaves the machine);
  8. issue a partner a portal link and read the payout in the portal;
  9. the home page lists the program and the batch.

Then the security probes: every console URL without a session goes to sign
in; another merchant's batch is 404; a form post without its CSRF token is
403; used, unknown and expired sign-in links are refused. And the platform
operator's pages answer a platform admin.

Every page visited is saved as a full-page screenshot in
`<target dir>/browser-screenshots/NN-name.png`.

Run with `bash tests/browser/run.sh` (see tests/README.md).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import string
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import (
    APIRequestContext,
    Browser,
    BrowserContext,
    Locator,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

# ------------------------------------------------------------------ settings

REPO = Path(__file__).resolve().parents[2]


def target_dir() -> Path:
    """`$CARGO_TARGET_DIR` (relative to the repository when relative), else `target`."""
    configured = os.environ.get("CARGO_TARGET_DIR")
    if not configured:
        return REPO / "target"
    path = Path(configured)
    return path if path.is_absolute() else REPO / path


def payouts_bin() -> Path:
    configured = os.environ.get("PAYOUTS_BIN")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else REPO / path
    return target_dir() / "debug" / "payouts"


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = target_dir() / "browser-screenshots"

# Generous timeouts: a debug build on a small CI machine.
expect.set_options(timeout=15_000)
PROGRESS_TIMEOUT_MS = 60_000

# The story's names and amounts.
PROGRAM_NAME = "Spring launch"
PARTNERS = {
    # referral key: (e-mail, conversion external id, conversion amount in cents)
    "tom": ("tom@partners.test", "ord_tom_1", 100_000),
    "ana": ("ana@partners.test", "ord_ana_1", 75_000),
}
COMMISSION_PERCENT = "20"
# 20 % of USD 1,000.00 and of USD 750.00.
EXPECTED = {"tom": "USD 200.00", "ana": "USD 150.00"}
EXPECTED_TOTAL = "USD 350.00"
TRANSFER_HREF = re.compile(r"^https://dashboard\.stripe\.com/test/connect/transfers/tr_[A-Za-z0-9]+$")
SIGN_IN_WORDS = re.compile(r"Please sign in|Sign in with the link")
NOT_YOURS = "There is nothing here, or it is not yours."
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def current_period() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m")


# --------------------------------------------------------------- screenshots

_shot_numbers = itertools.count(1)


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot of what the page shows now, `NN-name.png`."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    path = SHOTS / f"{next(_shot_numbers):02d}-{slug}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# -------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running `payouts serve` and what it printed."""

    proc: subprocess.Popen
    work: Path
    base: str
    secret: str = field(repr=False)
    database: Path
    signin_link: str = field(repr=False)
    sandbox: str
    dev_token: str = field(repr=False)
    token_source: str

    def log_tail(self, lines: int = 60) -> str:
        out = []
        for name in ("serve.stdout.log", "serve.stderr.log"):
            path = self.work / name
            text = path.read_text(errors="replace") if path.exists() else ""
            out.append(f"--- {name} (last {lines} lines)\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(out)


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as res:
            return res.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def start_server() -> Server:
    binary = payouts_bin()
    if not os.access(binary, os.X_OK):
        pytest.exit(
            f"no payouts binary at {binary}: build it first (cargo build -p payouts) "
            "or set PAYOUTS_BIN",
            returncode=2,
        )
    work = Path(tempfile.mkdtemp(prefix="payouts-browser-"))
    port = free_port()
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    database = work / "payouts.db"
    env = dict(os.environ)
    # No keys and no external sandbox: the in-process one. The scheduler stays
    # on (its default) so batches run as they do in production.
    for var in (
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_CLIENT_ID",
        "STRIPE_API_BASE",
        "STRIPE_CONNECT_BASE",
        "PAYOUTS_PUBLIC_URL",
        "PAYOUTS_DASHBOARD_URL",
        "PAYOUTS_SCHEDULER",
        "PAYOUTS_NOTIFY_WEBHOOKS",
    ):
        env.pop(var, None)
    env.update(
        {
            "PAYOUTS_BIND": f"127.0.0.1:{port}",
            "DATABASE_URL": f"sqlite://{database}?mode=rwc",
            "PAYOUTS_JWT_SECRET": secret,
            "RUST_LOG": "info",
        }
    )
    stdout = open(work / "serve.stdout.log", "wb")
    stderr = open(work / "serve.stderr.log", "wb")
    proc = subprocess.Popen(
        [str(binary), "serve"], cwd=work, env=env, stdout=stdout, stderr=stderr
    )
    stdout.close()
    stderr.close()
    base = f"http://127.0.0.1:{port}"

    def read(name: str) -> str:
        return ANSI.sub("", (work / name).read_text(errors="replace"))

    deadline = time.monotonic() + 90
    link = sandbox = token = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        out, err = read("serve.stdout.log"), read("serve.stderr.log")
        m = re.search(r"console sign-in link \([^\n]*\n(\S+/login/\S+)", out)
        link = m.group(1) if m else None
        m = re.search(r"dev admin token \(super_admin[^\n]*\n(\S+)", out)
        token = m.group(1) if m else None
        m = re.search(r"in-process Stripe sandbox.*?url=(http://[0-9.]+:[0-9]+)", err)
        sandbox = m.group(1) if m else None
        if link and sandbox and _get(f"{base}/readyz") == 200:
            break
        time.sleep(0.2)
    server = Server(
        proc=proc,
        work=work,
        base=base,
        secret=secret,
        database=database,
        signin_link=link or "",
        sandbox=sandbox or "",
        dev_token=token or "",
        token_source="printed by serve",
    )
    if not (link and sandbox) or _get(f"{base}/readyz") != 200:
        stop_server(server)
        pytest.exit(
            "payouts serve did not come up (sign-in link, sandbox URL, /readyz):\n"
            + server.log_tail(),
            returncode=3,
        )
    if not token:
        # `serve` prints a dev super_admin token only when it made up the JWT
        # secret itself; with PAYOUTS_JWT_SECRET set, mint the same token
        # with the binary's own `payouts token` and that secret.
        minted = subprocess.run(
            [
                str(binary),
                "token",
                "--role",
                "super_admin",
                "--merchant",
                "demo",
                "--ttl-hours",
                "12",
                "--subject",
                "dev-admin",
            ],
            env={**env, "RUST_LOG": "warn"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if minted.returncode != 0 or not minted.stdout.strip():
            stop_server(server)
            pytest.exit(f"payouts token failed: {minted.stderr}", returncode=3)
        server.dev_token = minted.stdout.strip().splitlines()[-1]
        server.token_source = "minted by `payouts token` (PAYOUTS_JWT_SECRET is set)"
    return server


def stop_server(server: Server) -> None:
    """Stops the one process this run started, by its PID."""
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=15)
    # Keep the service's logs next to the screenshots.
    for name in ("serve.stdout.log", "serve.stderr.log"):
        src = server.work / name
        if src.exists():
            shutil.copyfile(src, SHOTS / name)
    shutil.rmtree(server.work, ignore_errors=True)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def server() -> Server:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    srv = start_server()
    print(f"\npayouts serve at {srv.base}, sandbox at {srv.sandbox}; API token {srv.token_source}")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def pw() -> Playwright:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(pw: Playwright) -> Browser:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.exit(f"no Chromium at {CHROMIUM} (set CHROMIUM)", returncode=2)
    b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
    yield b
    b.close()


@pytest.fixture(scope="session")
def api(pw: Playwright, server: Server) -> APIRequestContext:
    """The JSON API as the dev super_admin of merchant `demo`."""
    ctx = pw.request.new_context(
        base_url=server.base,
        extra_http_headers={"Authorization": f"Bearer {server.dev_token}"},
    )
    yield ctx
    ctx.dispose()


@pytest.fixture(scope="session")
def sandbox(pw: Playwright, server: Server) -> APIRequestContext:
    """The in-process stripe-sandbox's control API."""
    ctx = pw.request.new_context(base_url=server.sandbox)
    yield ctx
    ctx.dispose()


def call(ctx: APIRequestContext, method: str, path: str, body: Any = None, ok=(200, 201, 202)) -> Any:
    """A JSON call; fails loudly unless the status is one of `ok`."""
    res = ctx.fetch(path, method=method, data=json.dumps(body) if body is not None else None,
                    headers={"Content-Type": "application/json"} if body is not None else None)
    text = res.text()
    assert res.status in ok, f"{method} {path}: {res.status} {text}"
    return json.loads(text) if text else None


def guard_offbox(ctx: BrowserContext, server: Server) -> None:
    """Nothing leaves the machine: any request to another host is aborted,
    so a page that points off-box fails here instead of hanging."""

    def guard(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    ctx.route("**/*", guard)


def new_context(browser: Browser, server: Server) -> BrowserContext:
    ctx = browser.new_context(base_url=server.base, viewport={"width": 1280, "height": 900})
    guard_offbox(ctx, server)
    return ctx


def submit(page: Page, button: Locator) -> None:
    """Clicks a form's submit button and waits for the page it leads to
    (every console form is a POST answered by a page or a 303)."""
    with page.expect_navigation(wait_until="load"):
        button.click()


def text_or_value(loc: Locator) -> str:
    """An element's URL-ish content: an input's value, a link's href, or its text."""
    tag = loc.evaluate("e => e.tagName.toLowerCase()")
    if tag in ("input", "textarea"):
        return loc.input_value().strip()
    href = loc.get_attribute("href") if tag == "a" else None
    return (href or loc.inner_text()).strip()


def sign_in_link(api: APIRequestContext, body: dict) -> str:
    """A single-use sign-in link from `POST /api/v1/login-links`."""
    res = call(api, "POST", "/api/v1/login-links", body, ok=(201,))
    assert res["url"].startswith("http") and "/login/" in res["url"], res
    return res["url"]


# --------------------------------------------------------------------- story


@dataclass(repr=False)
class Story:
    """What the story's steps share, in order."""

    server: Server
    browser: Browser
    api: APIRequestContext
    sandbox: APIRequestContext
    context: BrowserContext
    page: Page
    period: str = field(default_factory=current_period)
    account_id: str = ""
    program_id: str = ""
    program_url: str = ""
    batch_id: str = ""
    batch_url: str = ""
    broken: Optional[str] = None
    console_errors: list = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Story(page at {self.page.url}, program {self.program_id or '-'}, batch {self.batch_id or '-'})"


@pytest.fixture(scope="session")
def story(server: Server, browser: Browser, api: APIRequestContext, sandbox: APIRequestContext) -> Story:
    ctx = new_context(browser, server)
    page = ctx.new_page()
    s = Story(server=server, browser=browser, api=api, sandbox=sandbox, context=ctx, page=page)
    # What the browser refused (a CSP violation, a script error) explains a
    # step that waits for a page that never comes.
    page.on("console", lambda m: s.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: s.console_errors.append(f"page error: {e}"))
    yield s
    ctx.close()


def step(fn: Callable[[Story], None]) -> Callable[[Story], None]:
    """A story step: skipped once an earlier step failed (the steps build on
    each other); a failing step leaves a screenshot of where it stopped."""

    @functools.wraps(fn)
    def run(story: Story) -> None:
        if story.broken:
            pytest.skip(f"the story stopped at {story.broken}")
        story.console_errors.clear()
        try:
            fn(story)
        except BaseException:
            story.broken = fn.__name__
            for message in story.console_errors:
                print(f"browser console: {message}")
            try:
                shot(story.page, f"failed-{fn.__name__}")
            except Exception:  # noqa: BLE001 - the screenshot is best effort
                pass
            raise

    return run


# Each step is also a plain function of the story (`do_…`), so that a part
# of the story can be driven on its own while the pages before it are built.


def do_sign_in(story: Story) -> None:
    page, base = story.page, story.server.base
    page.goto(story.server.signin_link)
    expect(page).to_have_url(f"{base}/dashboard/partners")
    expect(page.get_by_role("heading", level=1, name="Partners", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    cookie = next(c for c in story.context.cookies() if c["name"] == "payouts_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax", cookie
    shot(page, "dashboard")


def do_connect_stripe(story: Story) -> None:
    page, base = story.page, story.server.base
    page.goto("/dashboard/partners/stripe-connect")
    expect(page.get_by_role("heading", level=1, name="Stripe Connect")).to_be_visible()
    shot(page, "stripe-connect-card")
    page.get_by_role("button", name="Connect with Stripe", exact=True).click()
    page.wait_for_url(re.compile("^" + re.escape(f"{story.server.sandbox}/oauth/authorize?")))
    expect(page.get_by_role("button", name="Deny")).to_be_visible()
    shot(page, "sandbox-authorize")
    page.get_by_role("button", name="Authorize").click()
    expect(page).to_have_url(f"{base}/dashboard/partners/stripe-connect?stripe=connected")
    expect(page.get_by_text("Your Stripe account is connected.")).to_be_visible()
    account = page.get_by_test_id("account-id")
    expect(account).to_have_text(re.compile(r"^\s*acct_[A-Za-z0-9]+\s*$"))
    expect(page.get_by_test_id("status")).to_have_text(re.compile(r"^\s*connected\s*$"))
    expect(page.get_by_role("button", name="Re-connect with Stripe")).to_be_visible()
    story.account_id = account.inner_text().strip()
    shot(page, "stripe-connected")


def at_page(url: str) -> re.Pattern:
    """The page at `url`, with or without a query (a notice after a form,
    as `?stripe=connected` on the card)."""
    return re.compile("^" + re.escape(url) + r"(\?.*)?$")


def without_query(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0]


def partner_row(page: Page, key: str) -> Locator:
    return page.locator(f'tr[data-testid="partner-{key}"]')


def do_create_program(story: Story) -> None:
    page, base = story.page, story.server.base
    page.goto("/dashboard/partners")
    create = page.locator("form").filter(has=page.get_by_role("button", name="Create program"))
    expect(create).to_have_count(1)
    if not create.is_visible():
        # Folded away ("Create a program" as a disclosure): open it as a person would.
        page.get_by_text("Create a program", exact=True).click()
    expect(create).to_be_visible()
    expect(create.get_by_label("Currency", exact=True)).to_have_value(re.compile(r"^usd$", re.I))
    expect(create.get_by_label("Holding days", exact=True)).to_have_value("0")
    expect(create.get_by_label("Minimum payout", exact=True)).to_have_value("1.00")
    create.get_by_label("Name", exact=True).fill(PROGRAM_NAME)
    create.get_by_label("Commission (%)", exact=True).fill(COMMISSION_PERCENT)
    shot(page, "create-program-form")
    submit(page, create.get_by_role("button", name="Create program"))
    page.wait_for_url(re.compile(re.escape(base) + r"/dashboard/partners/programs/[0-9a-f-]{36}(\?.*)?$"))
    story.program_url = without_query(page.url)
    story.program_id = story.program_url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", level=1)).to_have_text(PROGRAM_NAME)
    shot(page, "program")

    # Batches wait for a person: the policy form, on "Manual approval".
    page.get_by_label("Manual approval", exact=True).check()
    submit(page, page.get_by_role("button", name="Save policy"))
    page.goto(story.program_url)
    expect(page.get_by_label("Manual approval", exact=True)).to_be_checked()


def do_enroll_and_onboard(story: Story) -> None:
    page = story.page
    program_page = at_page(story.program_url)
    page.goto(story.program_url)
    for key, (email, _, _) in PARTNERS.items():
        enroll = page.locator("form").filter(has=page.get_by_role("button", name="Enroll partner"))
        expect(enroll.get_by_label("Country", exact=True)).to_have_value("US")
        enroll.get_by_label("E-mail", exact=True).fill(email)
        enroll.get_by_label("Referral key", exact=True).fill(key)
        submit(page, enroll.get_by_role("button", name="Enroll partner"))
        expect(page).to_have_url(program_page)
        expect(partner_row(page, key).get_by_test_id("onboarding")).to_have_text(re.compile(r"^\s*onboarding\s*$"))
    shot(page, "program-partners-enrolled")

    for key in PARTNERS:
        row = partner_row(page, key)
        row.get_by_role("button", name="Onboarding link").click()
        page.wait_for_url(re.compile("^" + re.escape(f"{story.server.sandbox}/")))
        shot(page, f"sandbox-onboarding-{key}")
        page.get_by_role("button", name="Complete onboarding").click()
        page.wait_for_url(program_page)
        row = partner_row(page, key)
        state = row.get_by_test_id("onboarding")
        for _ in range(5):
            if state.inner_text().strip() == "ready":
                break
            submit(page, row.get_by_role("button", name="Check onboarding"))
            row = partner_row(page, key)
            state = row.get_by_test_id("onboarding")
        expect(state).to_have_text(re.compile(r"^\s*ready\s*$"))
        expect(row.get_by_role("button", name="Stripe dashboard")).to_be_visible()
    shot(page, "program-partners-ready")


def do_conversions_and_batch(story: Story) -> None:
    page, base = story.page, story.server.base
    for key, (_, external_id, amount) in PARTNERS.items():
        res = call(
            story.api,
            "POST",
            f"/api/v1/programs/{story.program_id}/conversions",
            {"external_id": external_id, "amount": amount, "currency": "usd", "referral_key": key},
            ok=(201,),
        )
        assert res["outcome"] == "recorded", res
        assert res["commission"] is not None, res

    page.goto(story.program_url)
    period = page.get_by_label("Period", exact=True)
    expect(period).to_have_value(story.period)
    submit(page, page.get_by_role("button", name="Show", exact=True))
    main = page.get_by_role("main")
    for amount in EXPECTED.values():
        expect(main).to_contain_text(amount)
    shot(page, "program-commissions")
    submit(page, page.get_by_role("button", name=f"Finalize {story.period}"))
    shot(page, "period-finalized")
    if without_query(page.url) != story.program_url:
        page.goto(story.program_url)
    submit(page, page.get_by_role("button", name=f"Build the batch for {story.period}"))
    page.wait_for_url(re.compile(re.escape(base) + r"/dashboard/partners/batches/[0-9a-f-]{36}(\?.*)?$"))
    story.batch_url = without_query(page.url)
    story.batch_id = story.batch_url.rsplit("/", 1)[1]


def do_review_and_approve(story: Story) -> None:
    page = story.page
    if without_query(page.url) != story.batch_url:
        page.goto(story.batch_url)
    expect(page.get_by_test_id("state")).to_have_text("draft")
    expect(page.get_by_test_id("total")).to_have_text(EXPECTED_TOTAL)
    expect(page.get_by_test_id("item-count")).to_have_text("2")
    expect(page.get_by_test_id("hash")).to_have_text(re.compile(r"\S{16,}"))
    main = page.get_by_role("main")
    for amount in EXPECTED.values():
        expect(main).to_contain_text(amount)
    shot(page, "batch-draft")

    # The manifest as CSV: a header and one line per item.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the manifest (CSV)").click()
    csv = Path(download.value.path()).read_text()
    lines = csv.strip().splitlines()
    assert lines[0].startswith("item_id,partner_id,"), csv
    assert len(lines) == 3, csv

    submit(page, page.get_by_role("button", name="Approve…"))
    main = page.get_by_role("main")
    expect(main).to_contain_text(EXPECTED_TOTAL)
    expect(main).to_contain_text(re.compile(r"\b2 partners\b"))
    shot(page, "batch-confirm")
    submit(page, page.get_by_role("button", name="Approve", exact=True))
    expect(page).to_have_url(at_page(story.batch_url))
    expect(page.get_by_test_id("state")).to_have_text("approved")
    shot(page, "batch-approved")


def do_run_with_one_failure_and_retry(story: Story) -> None:
    page = story.page
    assert story.account_id, "the merchant's Stripe account is not known"
    # The merchant's Stripe balance covers the batch; the first transfer is
    # refused by Stripe for an insufficient balance all the same (a fault
    # rule on the sandbox, used once), so exactly one item fails.
    call(story.sandbox, "POST", "/_sandbox/balances",
         {"account": story.account_id, "currency": "usd", "available": 100_000, "pending": 0})
    call(story.sandbox, "DELETE", "/_sandbox/faults")
    call(story.sandbox, "POST", "/_sandbox/faults", {
        "kind": "fail", "method": "POST", "path_prefix": "/v1/transfers", "count": 1,
        "status": 400, "type": "invalid_request_error", "code": "balance_insufficient",
        "message": "You have insufficient available funds in your Stripe account.",
    })
    # Slow Stripe down so that the run is still going when the page comes
    # back, and the progress section has to be brought up to date by the
    # page's script (no reload).
    call(story.sandbox, "POST", "/_sandbox/latency", {"fixed_ms": 4000, "jitter_ms": 0})
    try:
        submit(page, page.get_by_role("button", name="Run the payouts"))
        expect(page).to_have_url(at_page(story.batch_url))
        page.evaluate("window.__sameDocument = true")
        progress = page.locator("#progress")
        pending = progress.get_by_test_id("pending")
        assert not pending.inner_text().startswith("0 "), (
            "the run was over before the page showed it: nothing to watch"
        )
        shot(page, "batch-running")
        expect(pending).to_have_text(re.compile(r"^0 \("), timeout=PROGRESS_TIMEOUT_MS)
        expect(progress.get_by_test_id("posted")).to_have_text(re.compile(r"^1 \("))
        expect(progress.get_by_test_id("failed")).to_have_text(re.compile(r"^1 \("))
        assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
        shot(page, "batch-progress-done")
    finally:
        call(story.sandbox, "POST", "/_sandbox/latency", {"fixed_ms": 0, "jitter_ms": 0})

    page.reload()
    expect(page.get_by_test_id("state")).to_have_text("completed_with_failures")
    expect(page.locator("#progress").get_by_role("button", name="Retry")).to_have_count(1)
    failed_row = page.locator("#progress tr").filter(has=page.get_by_role("button", name="Retry"))
    expect(failed_row).to_have_count(1)
    retry = failed_row.get_by_role("button", name="Retry")
    expect(failed_row).to_contain_text("balance_insufficient")
    expect(failed_row).to_contain_text("balance was too low")
    # The engine classified it as `insufficient_balance` (the retry ladder's kind).
    items = call(story.api, "GET", f"/api/v1/batches/{story.batch_id}/items")["data"]
    failed = [i for i in items if i["state"]["state"] == "failed"]
    assert len(failed) == 1, items
    assert failed[0]["state"]["failure"]["kind"] == "insufficient_balance", failed[0]
    shot(page, "batch-one-failed")

    submit(page, retry)
    expect(page).to_have_url(at_page(story.batch_url))
    progress = page.locator("#progress")
    expect(progress.get_by_test_id("posted")).to_have_text(f"2 ({EXPECTED_TOTAL})")
    expect(progress.get_by_test_id("failed")).to_have_text(re.compile(r"^0 \("))
    expect(progress.get_by_role("button", name="Retry")).to_have_count(0)
    shot(page, "batch-retried")


def do_transfer_link(story: Story) -> None:
    page = story.page
    if without_query(page.url) != story.batch_url:
        page.goto(story.batch_url)
    links = page.locator('#progress a[href*="dashboard.stripe.com"]')
    expect(links).to_have_count(2)
    hrefs = [links.nth(i).get_attribute("href") for i in range(2)]
    for href in hrefs:
        assert href and TRANSFER_HREF.match(href), href
    first = links.first
    expect(first).to_have_text(hrefs[0].rsplit("/", 1)[1])

    # Stripe is not reachable from here: answer the dashboard's URL locally
    # and check that the click opens exactly that URL.
    opened: list[str] = []

    def stripe_dashboard(route: Route) -> None:
        opened.append(route.request.url)
        route.fulfill(status=200, content_type="text/html",
                      body="<!doctype html><title>Stripe (stub)</title><h1>Stripe dashboard (stub)</h1>")

    story.context.route("https://dashboard.stripe.com/**", stripe_dashboard)
    try:
        if first.get_attribute("target") == "_blank":
            with story.context.expect_page() as popup:
                first.click()
            stripe = popup.value
            stripe.wait_for_load_state()
            assert stripe.url == hrefs[0], stripe.url
            shot(stripe, "stripe-transfer-stub")
            stripe.close()
        else:
            first.click()
            page.wait_for_url(re.compile("^" + re.escape(hrefs[0]) + "$"))
            shot(page, "stripe-transfer-stub")
            page.go_back()
            expect(page).to_have_url(at_page(story.batch_url))
    finally:
        story.context.unroute("https://dashboard.stripe.com/**", stripe_dashboard)
    assert opened == [hrefs[0]], opened


def do_portal(story: Story) -> None:
    page, base = story.page, story.server.base
    page.goto(story.program_url)
    submit(page, partner_row(page, "tom").get_by_role("button", name="Portal link"))
    link_el = page.get_by_test_id("portal-link")
    expect(link_el).to_be_visible()
    link = text_or_value(link_el)
    assert link.startswith(f"{base}/login/"), link
    shot(page, "portal-link")
    read_portal(story, link)


def read_portal(story: Story, link: str) -> None:
    """Tom opens his link in a browser of his own and reads his payout."""
    base = story.server.base
    partner_ctx = new_context(story.browser, story.server)
    try:
        partner = partner_ctx.new_page()
        partner.goto(link)
        expect(partner).to_have_url(f"{base}/portal")
        expect(partner.get_by_role("heading", level=1, name="Your payouts")).to_be_visible()
        history = partner.locator("table").filter(has_text=EXPECTED["tom"])
        expect(history).to_have_count(1)
        expect(history).to_contain_text("posted")
        expect(partner.get_by_role("main")).not_to_contain_text(EXPECTED["ana"])
        expect(partner.get_by_role("heading", name=f"Tax summary {datetime.now(timezone.utc).year}")).to_be_visible()
        expect(partner.locator("#notices")).to_be_attached()
        expect(partner.get_by_role("button", name="Open your Stripe dashboard")).to_be_visible()
        shot(partner, "portal")
    finally:
        partner_ctx.close()


def do_home_lists_the_work(story: Story) -> None:
    page = story.page
    page.goto("/dashboard/partners")
    expect(page.get_by_role("link", name=PROGRAM_NAME)).to_have_attribute(
        "href", re.compile(re.escape(f"/dashboard/partners/programs/{story.program_id}") + "$"))
    expect(page.locator(f'a[href$="/dashboard/partners/batches/{story.batch_id}"]').first).to_be_visible()
    expect(page.get_by_text("Recent batches")).to_be_visible()
    expect(page.locator('svg[data-testid="paid-volume"]')).to_be_attached()
    expect(page.locator("#notifications")).to_be_attached()
    shot(page, "dashboard-after")


@step
def test_01_sign_in_by_the_printed_link(story: Story) -> None:
    do_sign_in(story)


@step
def test_02_connect_stripe_through_the_sandbox_authorize_page(story: Story) -> None:
    do_connect_stripe(story)


@step
def test_03a_create_a_program(story: Story) -> None:
    do_create_program(story)


@step
def test_03b_enroll_two_partners_and_onboard_each(story: Story) -> None:
    do_enroll_and_onboard(story)


@step
def test_04_record_conversions_finalize_and_build_the_batch(story: Story) -> None:
    do_conversions_and_batch(story)


@step
def test_05_review_the_manifest_and_approve(story: Story) -> None:
    do_review_and_approve(story)


@step
def test_06_run_with_one_insufficient_balance_then_retry(story: Story) -> None:
    do_run_with_one_failure_and_retry(story)


@step
def test_07_a_transfer_links_to_the_stripe_dashboard(story: Story) -> None:
    do_transfer_link(story)


@step
def test_08_the_partner_reads_the_payout_in_the_portal(story: Story) -> None:
    do_portal(story)


@step
def test_09_the_home_page_lists_the_program_and_the_batch(story: Story) -> None:
    do_home_lists_the_work(story)


def do_audit_trail_lists_the_work(story: Story) -> None:
    """The audit trail shows who built, approved and ran the story's batch,
    newest first, and its filters narrow to one action; it reads at 390 px."""
    page = story.page
    page.goto("/dashboard/partners")
    page.get_by_role("link", name="Audit trail").click()
    expect(page).to_have_url(at_page(story.server.base + "/dashboard/audit"))
    page.goto(f"/dashboard/audit?object_id={story.batch_id}")
    rows = page.get_by_test_id("audit-list").locator("tbody tr")
    expect(rows.first).to_contain_text("batch.executed")
    text = page.get_by_test_id("audit-list").inner_text()
    for action in ("batch.built", "batch.approved", "batch.executed"):
        assert action in text, text
    assert text.index("batch.executed") < text.index("batch.approved") < text.index("batch.built"), text
    shot(page, "audit-trail")
    page.select_option("#action", "batch.approved")
    submit(page, page.get_by_role("button", name="Show"))
    expect(page.get_by_test_id("audit-list").locator("tbody tr")).to_have_count(1)
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at 390 px: {width}"
        shot(page, "audit-trail-390")
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


@step
def test_10_the_audit_trail_lists_who_did_what(story: Story) -> None:
    do_audit_trail_lists_the_work(story)


# ------------------------------------------------------------------ security


@dataclass
class ApiBatch:
    program_id: str
    batch_id: str


@pytest.fixture(scope="session")
def api_batch(api: APIRequestContext, sandbox: APIRequestContext) -> ApiBatch:
    """A draft batch of merchant `demo` built by the JSON API alone (the
    probes need a real batch id, whatever the story did)."""
    program = call(api, "POST", "/api/v1/programs", {
        "name": "Security probe",
        "currency": "usd",
        "commission": {"type": "percent", "percent": "10"},
        "holding_days": 0,
        "minimum_payout": {"amount": 100, "currency": "usd"},
        "auto_payout_policy": "manual",
        "coupon_sync_mode": "manual",
    }, ok=(201,))
    program_id = program["id"]
    for key, amount in (("probe-a", 50_000), ("probe-b", 30_000)):
        m = call(api, "POST", f"/api/v1/programs/{program_id}/partners",
                 {"email": f"{key}@partners.test", "country": "US", "referral_key": key}, ok=(201,))
        call(api, "POST", f"/api/v1/memberships/{m['id']}/onboarding-link",
             {"return_url": "https://partners.test/done", "refresh_url": "https://partners.test/again"})
        account = call(api, "GET", f"/api/v1/memberships/{m['id']}")["account_id"]
        call(sandbox, "POST", f"/_sandbox/accounts/{account}/complete_onboarding")
        call(api, "POST", f"/api/v1/memberships/{m['id']}/refresh", {})
        call(api, "POST", f"/api/v1/programs/{program_id}/conversions",
             {"external_id": f"ord_{key}", "amount": amount, "currency": "usd", "referral_key": key},
             ok=(201,))
    period = current_period()
    call(api, "POST", f"/api/v1/programs/{program_id}/periods/{period}/finalize", {})
    batch = call(api, "POST", f"/api/v1/programs/{program_id}/batches", {"period": period}, ok=(201,))
    assert batch["batch"]["state"] == "draft", batch
    return ApiBatch(program_id=program_id, batch_id=batch["batch"]["id"])


def signed_in_context(browser: Browser, server: Server, api: APIRequestContext, body: dict) -> BrowserContext:
    ctx = new_context(browser, server)
    page = ctx.new_page()
    page.goto(sign_in_link(api, body))
    assert any(c["name"] == "payouts_session" for c in ctx.cookies()), page.url
    page.close()
    return ctx


def test_every_console_url_without_a_session_goes_to_sign_in(
    browser: Browser, server: Server, api_batch: ApiBatch
) -> None:
    paths = [
        "/dashboard/partners",
        "/dashboard/partners/stripe-connect",
        f"/dashboard/partners/programs/{api_batch.program_id}",
        f"/dashboard/partners/batches/{api_batch.batch_id}",
        "/portal",
        "/dashboard/platform/fees",
    ]
    ctx = new_context(browser, server)
    page = ctx.new_page()
    wrong = []
    try:
        for path in paths:
            res = page.goto(path)
            first = res.request.redirected_from if res else None
            landed = urlsplit(page.url)
            next_ = parse_qs(landed.query).get("next", [""])[0]
            main = page.locator("main").inner_text() if page.locator("main").count() else ""
            shot(page, f"no-session-{path}")
            problems = []
            if first is None or first.response() is None or first.response().status != 303:
                problems.append(f"not a 303 (final status {res.status if res else None})")
            if landed.path != "/signin" or next_ != path:
                problems.append(f"landed on {page.url}")
            if not SIGN_IN_WORDS.search(main):
                problems.append("no sign-in message")
            if problems:
                wrong.append(f"{path}: {'; '.join(problems)}")
    finally:
        ctx.close()
    assert not wrong, "without a session:\n" + "\n".join(wrong)


def test_another_merchants_batch_is_404(
    browser: Browser, server: Server, api: APIRequestContext, api_batch: ApiBatch
) -> None:
    # The dev token is a platform role (super_admin): it names the merchant.
    ctx = signed_in_context(browser, server, api,
                            {"role": "tenant_admin", "merchant_id": "rival", "subject": "ops@rival.test"})
    try:
        page = ctx.new_page()
        path = f"/dashboard/partners/batches/{api_batch.batch_id}"
        res = page.goto(path)
        assert res is not None and res.status == 404, res and res.status
        expect(page.get_by_role("main")).to_contain_text(NOT_YOURS)
        expect(page.get_by_role("main")).not_to_contain_text("USD")
        shot(page, "other-merchant-batch-404")
        csv = ctx.request.get(f"{path}/manifest.csv", max_redirects=0)
        assert csv.status == 404, csv.status
        program = page.goto(f"/dashboard/partners/programs/{api_batch.program_id}")
        assert program is not None and program.status == 404, program and program.status
        expect(page.get_by_role("main")).to_contain_text(NOT_YOURS)
        shot(page, "other-merchant-program-404")
    finally:
        ctx.close()


def test_an_unknown_console_url_is_404_in_words(
    browser: Browser, server: Server, api: APIRequestContext
) -> None:
    ctx = signed_in_context(browser, server, api, {"role": "tenant_admin", "subject": "ops@demo.test"})
    try:
        page = ctx.new_page()
        res = page.goto("/dashboard/partners/no-such-page")
        assert res is not None and res.status == 404, res and res.status
        expect(page.get_by_role("main")).to_contain_text(NOT_YOURS)
        shot(page, "unknown-url-404")
    finally:
        ctx.close()


def test_a_form_post_without_its_csrf_token_is_403(
    browser: Browser, server: Server, api: APIRequestContext, api_batch: ApiBatch
) -> None:
    base = server.base
    ctx = signed_in_context(browser, server, api, {"role": "tenant_admin", "subject": "ops@demo.test"})
    try:
        page = ctx.new_page()
        batch_path = f"/dashboard/partners/batches/{api_batch.batch_id}"
        page.goto(batch_path)
        expect(page.get_by_test_id("state")).to_have_text("draft")
        token = page.locator('form[action$="/approve"] input[name="csrf_token"]').input_value()
        assert len(token) >= 16, token
        shot(page, "csrf-batch")
        forms = {
            "approve": f"{batch_path}/approve",
            "connect": "/dashboard/partners/stripe-connect/connect",
            "sign out": "/logout",
        }
        wrong = []
        for name, action in forms.items():
            attempts = {
                "no csrf_token": dict(data="confirm=yes", origin=base),
                "a wrong csrf_token": dict(data="csrf_token=forged&confirm=yes", origin=base),
                "the right token from another origin": dict(
                    data=f"csrf_token={token}&confirm=yes", origin="http://evil.test"),
            }
            for what, a in attempts.items():
                res = page.request.post(
                    action, data=a["data"], max_redirects=0,
                    headers={"Origin": a["origin"], "Content-Type": "application/x-www-form-urlencoded"},
                )
                if res.status != 403:
                    wrong.append(f"{name} with {what}: {res.status} {res.text()[:120]!r}")
        # Nothing happened: the batch is still a draft, the session still open.
        batch = call(api, "GET", f"/api/v1/batches/{api_batch.batch_id}")
        state = batch.get("batch", batch).get("state")
        assert state == "draft", batch
        page.goto(batch_path)
        expect(page).to_have_url(f"{base}{batch_path}")
        assert not wrong, "forged forms were not refused with 403:\n" + "\n".join(wrong)
    finally:
        ctx.close()


def expire_link(server: Server, url: str) -> None:
    """Ages a link in the service's own database: its expiry is set to a
    second after it was issued, long past (the binary has no clock to move;
    the row is the one the service checks when the link is opened)."""
    token = url.rsplit("/login/", 1)[1]
    digest = hashlib.sha256(token.encode()).hexdigest()
    db = sqlite3.connect(server.database, timeout=30)
    try:
        with db:
            changed = db.execute(
                "UPDATE login_links SET issued_at_ns = issued_at_ns - 600000000000, "
                "expires_at_ns = issued_at_ns - 600000000000 + 1000000000 "
                "WHERE secret_hash = ? AND used_at_ns IS NULL",
                (digest,),
            ).rowcount
    finally:
        db.close()
    assert changed == 1, f"no unused login link with hash {digest}"


def test_used_unknown_and_expired_sign_in_links_are_refused(
    browser: Browser, server: Server, api: APIRequestContext
) -> None:
    base = server.base
    cases = []
    used = sign_in_link(api, {"role": "tenant_admin", "subject": "used@demo.test"})
    first = new_context(browser, server)
    try:
        first.new_page().goto(used)
        assert any(c["name"] == "payouts_session" for c in first.cookies())
    finally:
        first.close()
    cases.append(("used", used, "already used"))
    cases.append(("unknown", f"{base}/login/{secrets.token_hex(32)}", "not valid"))
    expired = sign_in_link(api, {"role": "tenant_admin", "subject": "late@demo.test"})
    expire_link(server, expired)
    cases.append(("expired", expired, "expired"))

    for reason, link, words in cases:
        ctx = new_context(browser, server)
        try:
            page = ctx.new_page()
            page.goto(link)
            expect(page).to_have_url(f"{base}/signin?reason={reason}")
            expect(page.get_by_role("main")).to_contain_text(words)
            assert not any(c["name"] == "payouts_session" for c in ctx.cookies()), reason
            shot(page, f"signin-{reason}")
            # And it opens nothing: the console still asks to sign in.
            page.goto("/dashboard/partners/stripe-connect")
            expect(page).to_have_url(re.compile(re.escape(f"{base}/signin?next=")))
        finally:
            ctx.close()


def test_the_platform_pages_answer_a_platform_admin(
    browser: Browser, server: Server, api: APIRequestContext
) -> None:
    ctx = signed_in_context(browser, server, api, {"role": "platform_admin", "subject": "ops@platform.test"})
    try:
        page = ctx.new_page()
        wrong = []
        for name in ("fees", "balance", "disputes"):
            path = f"/dashboard/platform/{name}"
            res = page.goto(path)
            shot(page, f"platform-{name}")
            if res is None or res.status != 200 or page.url != f"{server.base}{path}":
                wrong.append(f"{path}: {res.status if res else None} at {page.url}")
            elif not page.get_by_role("heading", level=1).count():
                wrong.append(f"{path}: no heading")
        assert not wrong, "platform pages:\n" + "\n".join(wrong)
    finally:
        ctx.close()
