"""The course site and the finished demo site, checked in a real headless browser.

* The docs site (built by ``mkdocs build --strict``, served by http.server on a
  free port of 127.0.0.1): the home page and each step page load without
  console errors, their mermaid diagrams render to SVG, and site search finds
  "Content-Length".
* The demo site of step 5 (the reference solution, started by LearnerServer on
  a free port): its style sheet applies and its script runs, without console
  errors.
* The sessions extension's demo site (its reference solution): a visitor logs in
  through the form, is greeted on /account, cannot read the session cookie from
  a script (HttpOnly), and logs out with the button.
* The uploads extension's demo site (its reference solution, keeping uploads in
  a temporary folder): a visitor sends a file and a note through the form, sees
  both listed, and downloads the same bytes back, as application/octet-stream.

What counts as an error: a console error, an uncaught exception, any response
of 400 or more (404s for resources included), and any request that leaves
127.0.0.1. The browser may only reach 127.0.0.1, as for a learner offline;
every other request is refused.

Needs: Debian's Chromium (``apt-get install chromium``; CI's .ci/run installs
it) and Playwright (the ``browser`` group in pyproject.toml, which ``make test``
installs). Playwright drives that Chromium; it never downloads a browser of
its own, so never run ``playwright install``. Without Chromium every check
here is skipped with the reason (``pytest -rs`` shows it).

COURSE_CHROMIUM: the Chromium executable to use instead of ``chromium`` on the
PATH. Pointing it at a missing file shows the skip:
``COURSE_CHROMIUM=/nonexistent .venv/bin/python -m pytest tests/test_browser.py -rs``.
Run only these checks with ``-m browser``, or leave them out with ``-m "not browser"``.
"""

import functools
import os
import re
import shutil
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from checks.course import everything, find_step
from checks.learner_server import LearnerServer

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None


def find_chromium():
    """(path to Chromium, None), or (None, why there is none)."""
    chosen = os.environ.get("COURSE_CHROMIUM")
    if chosen:
        if os.path.isfile(chosen) and os.access(chosen, os.X_OK):
            return chosen, None
        return None, f"Chromium is not installed: COURSE_CHROMIUM={chosen} is not an executable file"
    found = shutil.which("chromium")
    if found:
        return found, None
    return None, "Chromium is not installed: apt-get install chromium (CI's .ci/run does)"


CHROMIUM, NO_CHROMIUM = find_chromium()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM or ""),
    pytest.mark.skipif(
        sync_playwright is None,
        reason="Playwright is not installed: it is the `browser` group in pyproject.toml, which `make test` installs",
    ),
]

# As root and with no network but the loopback: no sandbox, and none of the
# background connections Chromium would otherwise try (and fail) to make.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAUNCH_TIMEOUT_MS = 30_000
# Every navigation and every wait in a page gives up after this long.
PAGE_TIMEOUT_MS = 15_000

DOCS_PAGES = [("home", "")] + [
    (step.name, step.docs_page.removeprefix("docs/").removesuffix(".md") + "/") for step in everything()
]
DEMO_STEP = find_step("5-middleware")
DEMO_PAGES = ["/", "/static/demo.html"]
SCRIPT_DID_NOT_RUN = "If you can read this sentence, the script did not run."


class Tab:
    """A page in a fresh browser context, and every error seen while it was open."""

    def __init__(self, context):
        self.problems = []
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
        context.route("**/*", self._only_loopback)
        self.page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self._problem(f"uncaught error: {error}"))
        self.page.on("response", self._response)

    def _problem(self, text, url=""):
        self.problems.append(text)

    def _only_loopback(self, route):
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self._problem(f"a request to outside 127.0.0.1, refused as offline: {url}", url)
            route.abort("internetdisconnected")

    def _console(self, message):
        if message.type == "error":
            url = message.location.get("url", "")
            self._problem(f"console error: {message.text}" + (f" ({url})" if url else ""), url)

    def _response(self, response):
        if response.status >= 400:
            self._problem(f"HTTP {response.status} for {response.url}", response.url)

    def open(self, url):
        """Load ``url`` and wait until the page has loaded and its network is quiet."""
        response = self.page.goto(url, wait_until="load")
        self.page.wait_for_load_state("networkidle")
        return response

    def seen(self):
        """The errors seen so far, one a line, for a failure's message."""
        return "\n  ".join(["errors seen:", *self.problems]) if self.problems else "no errors seen"

    def assert_no_problems(self, what):
        if self.problems:
            pytest.fail(f"{what}:\n  " + "\n  ".join(self.problems))


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_tab(browser):
    """``new_tab(site)`` opens a Tab in a fresh context; all are closed afterwards."""
    contexts = []

    def new(site):
        contexts.append(browser.new_context())
        return Tab(contexts[-1])

    yield new
    for context in contexts:
        context.close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def docs_url(site):
    """The built docs site, served over HTTP on a free port of 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, name="docs-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def demo_url():
    """Step 5's reference solution, serving the demo site from the step's static/ folder."""
    options = {"app": {"static_root": str(DEMO_STEP.folder / "static")}}
    with LearnerServer(DEMO_STEP.solution_dir / "server.py", options=options) as server:
        yield f"http://127.0.0.1:{server.port}"


def diagram_count(site, path):
    """How many mermaid diagrams the built page holds, before any script runs."""
    return (site / path / "index.html").read_text(encoding="utf-8").count('<pre class="mermaid">')


def wait_for_diagrams(tab, expected):
    """Wait until Material has rendered ``expected`` diagrams (each ends up in a new ``div.mermaid``)."""
    try:
        tab.page.wait_for_function("n => document.querySelectorAll('div.mermaid').length >= n", arg=expected)
        return
    except PlaywrightTimeout:
        rendered = tab.page.locator("div.mermaid").count()
    pytest.fail(
        f"only {rendered} of {expected} mermaid diagrams rendered within {PAGE_TIMEOUT_MS // 1000} s "
        f"(is docs/javascripts/mermaid.min.js loaded?); {tab.seen()}"
    )


def diagrams(page):
    """For each ``.mermaid`` element, whether an ``svg`` is inside it, shadow roots included.

    Material renders each diagram into a closed shadow root, which page scripts cannot
    see; the DevTools protocol's DOM.getDocument with ``pierce`` shows it.
    """
    session = page.context.new_cdp_session(page)
    try:
        root = session.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]
    finally:
        session.detach()

    def inside(node):
        return node.get("children", []) + node.get("shadowRoots", []) + (
            [node["contentDocument"]] if "contentDocument" in node else []
        )

    def has_svg(node):
        return any(child.get("nodeName", "").lower() == "svg" or has_svg(child) for child in inside(node))

    found = []

    def walk(node):
        attributes = node.get("attributes", [])
        if "mermaid" in dict(zip(attributes[::2], attributes[1::2])).get("class", "").split():
            found.append(has_svg(node))
        for child in inside(node):
            walk(child)

    walk(root)
    return found


@pytest.mark.parametrize("path", [path for _, path in DOCS_PAGES], ids=[name for name, _ in DOCS_PAGES])
def test_docs_page_loads_without_errors(site, docs_url, new_tab, path):
    tab = new_tab("docs")
    response = tab.open(docs_url + path)
    assert response is not None and response.ok, f"/{path} answered {response and response.status}"
    wait_for_diagrams(tab, diagram_count(site, path))
    tab.assert_no_problems(f"errors while loading /{path}")


def test_home_page_diagrams_render_to_svg(site, docs_url, new_tab):
    expected = diagram_count(site, "")
    assert expected >= 1, "the home page has no mermaid diagram (a ```mermaid block in docs/index.md)"
    tab = new_tab("docs")
    tab.open(docs_url)
    wait_for_diagrams(tab, expected)
    found = diagrams(tab.page)
    assert len(found) == expected, f"expected {expected} .mermaid elements on the home page, found {len(found)}"
    assert all(found), f"these .mermaid elements hold no svg (by position): {[i for i, ok in enumerate(found) if not ok]}"
    tab.assert_no_problems("errors while rendering the home page's diagrams")


def test_search_finds_content_length(docs_url, new_tab):
    tab = new_tab("docs")
    tab.open(docs_url)
    tab.page.locator("input.md-search__input").click()
    tab.page.keyboard.type("Content-Length")
    results = tab.page.locator(".md-search-result__item")
    try:
        results.first.wait_for(state="visible")
    except PlaywrightTimeout:
        meta = tab.page.locator(".md-search-result__meta").inner_text()
    else:
        meta = None
    if meta is not None:
        pytest.fail(f"searching for Content-Length showed no result within {PAGE_TIMEOUT_MS // 1000} s ({meta!r}); {tab.seen()}")
    texts = results.all_inner_texts()
    assert any("content-length" in text.lower() for text in texts), f"no result mentions Content-Length: {texts}"
    tab.assert_no_problems("errors while searching")


def expected_h1_colour():
    """The colour style.css gives h1, as the browser reports it: ``rgb(42, 93, 132)``."""
    css = (DEMO_STEP.folder / "static" / "style.css").read_text(encoding="utf-8")
    found = re.search(r"\bh1\s*\{[^}]*\bcolor:\s*#([0-9a-fA-F]{6})", css)
    assert found, "steps/5-middleware/static/style.css gives h1 no colour (#rrggbb) to check"
    red, green, blue = (int(found[1][i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({red}, {green}, {blue})"


@pytest.mark.parametrize("path", DEMO_PAGES)
def test_demo_site_applies_its_css_and_runs_its_script(demo_url, new_tab, path):
    tab = new_tab("demo")
    default = tab.page.context.new_page()
    default.set_content("<h1>A heading with the browser's own style</h1>")
    default_colour = default.eval_on_selector("h1", "h1 => getComputedStyle(h1).color")
    default.close()

    response = tab.open(demo_url + path)
    assert response is not None and response.ok, f"{path} answered {response and response.status}"

    colour = tab.page.eval_on_selector("h1", "h1 => getComputedStyle(h1).color")
    assert colour != default_colour, (
        f"h1 has the browser's default colour {colour}: /static/style.css was not applied; {tab.seen()}"
    )
    assert colour == expected_h1_colour(), f"h1 is {colour}, not the colour style.css gives it; {tab.seen()}"

    try:
        tab.page.wait_for_function(
            "gone => document.getElementById('js-note').textContent.trim() !== gone", arg=SCRIPT_DID_NOT_RUN
        )
        ran = True
    except PlaywrightTimeout:
        ran = False
    assert ran, f"#js-note still says the script did not run: /static/app.js did not run; {tab.seen()}"
    note = tab.page.inner_text("#js-note")
    assert "/static/app.js" in note, f"#js-note was changed, but not by /static/app.js: {note!r}"
    tab.assert_no_problems(f"errors while loading the demo site's {path}")


SESSIONS_STEP = find_step("sessions")


@pytest.fixture(scope="module")
def sessions_url():
    """The sessions extension's reference solution, with fast password hashing."""
    options = {"app": {"static_root": str(SESSIONS_STEP.folder / "static"), "password_rounds": 1000}}
    with LearnerServer(SESSIONS_STEP.solution_dir / "server.py", options=options) as server:
        yield f"http://127.0.0.1:{server.port}"


def test_a_visitor_logs_in_and_out_through_the_forms(sessions_url, new_tab):
    tab = new_tab("sessions")
    tab.open(sessions_url + "/login")
    tab.page.fill("input[name=username]", "ada")
    tab.page.fill("input[name=password]", "lovelace")
    with tab.page.expect_navigation():
        tab.page.click("button[type=submit]")
    assert urlsplit(tab.page.url).path == "/account", f"the login led to {tab.page.url}; {tab.seen()}"
    assert tab.page.inner_text("h1") == "Hello, ada!", f"/account says {tab.page.inner_text('h1')!r}; {tab.seen()}"
    cookies = {cookie["name"]: cookie for cookie in tab.page.context.cookies()}
    assert cookies.get("session", {}).get("httpOnly") is True, f"the session cookie is not HttpOnly: {cookies}"
    assert cookies["session"].get("sameSite") == "Lax", f"the session cookie is not SameSite=Lax: {cookies}"
    assert "session=" not in tab.page.evaluate("document.cookie"), "a script can read the session cookie"
    with tab.page.expect_navigation():
        tab.page.click("form[action='/logout'] button")
    assert urlsplit(tab.page.url).path == "/", f"the logout led to {tab.page.url}; {tab.seen()}"
    assert "session" not in {cookie["name"] for cookie in tab.page.context.cookies()}, "the cookie outlived the logout"
    tab.open(sessions_url + "/account")
    assert urlsplit(tab.page.url).path == "/login", f"/account after logout showed {tab.page.url}; {tab.seen()}"
    tab.assert_no_problems("errors while logging in and out of the sessions demo")


UPLOADS_STEP = find_step("uploads")


@pytest.fixture(scope="module")
def uploads_url():
    """The uploads extension's reference solution, keeping what it is sent in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="uploads-") as upload_dir:
        options = {"app": {"static_root": str(UPLOADS_STEP.folder / "static"), "upload_dir": upload_dir}}
        with LearnerServer(UPLOADS_STEP.solution_dir / "server.py", options=options) as server:
            yield f"http://127.0.0.1:{server.port}"


def test_a_visitor_uploads_a_file_through_the_form_and_downloads_it(uploads_url, new_tab, tmp_path):
    content = bytes(range(256)) * 300 + b"\r\n--not the boundary\r\n"  # every byte value, and a line like a boundary's
    chosen = tmp_path / "notes & data.bin"
    chosen.write_bytes(content)
    tab = new_tab("uploads")
    tab.open(uploads_url + "/upload")
    tab.page.set_input_files("input[type=file][name=files]", str(chosen))
    tab.page.fill("input[name=note]", "sent from Chromium")
    with tab.page.expect_navigation():
        tab.page.click("button[type=submit]")
    assert urlsplit(tab.page.url).path == "/upload", f"the form led to {tab.page.url}; {tab.seen()}"
    assert tab.page.inner_text("h1") == "Uploaded", f"the answer says {tab.page.inner_text('h1')!r}; {tab.seen()}"
    listed = tab.page.inner_text("ul")
    assert "note: sent from Chromium" in listed, f"the note is not listed: {listed!r}"
    stored_as = "notes _ data.bin"  # safe_filename(): the & is not kept
    assert f"files: {stored_as}, {len(content)} bytes" in listed, f"the file is not listed with its size: {listed!r}"

    link = tab.page.locator("a", has_text=stored_as)
    href = link.get_attribute("href")
    assert href.startswith("/uploads/"), f"the file's link is {href!r}, not under /uploads/"
    with tab.page.expect_download() as started:
        link.click()
    download = started.value
    assert download.failure() is None, f"the download failed: {download.failure()}; {tab.seen()}"
    assert download.suggested_filename == stored_as, f"saved as {download.suggested_filename!r}"
    assert Path(download.path()).read_bytes() == content, "the browser downloaded other bytes than it sent"

    answer = requests.get(uploads_url + href, timeout=10)
    assert answer.status_code == 200 and answer.content == content, f"GET {href} answered {answer.status_code}"
    assert answer.headers["Content-Type"] == "application/octet-stream", answer.headers
    assert answer.headers["X-Content-Type-Options"] == "nosniff", answer.headers
    assert answer.headers["Content-Disposition"].startswith("attachment;"), answer.headers
    tab.assert_no_problems("errors while uploading to the uploads demo and downloading it back")
