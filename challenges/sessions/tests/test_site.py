"""sessions — the finished site, over real connections, with requests.Session as the browser's cookie jar.

Each check starts the learner's server with the token "test-token" and fast password hashing
(1,000 PBKDF2 rounds instead of 600,000: the checks log in often). The demo users are ada
(password lovelace) and grace (hopper). Raw exchanges are read by h11, a strict HTTP/1.1 parser.
"""

import re
import shutil
import threading

import pytest
import requests

from checks.expect import expect_response
from checks.report import CheckFailed
from checks.wire import exchange, fetch

TOKEN = "test-token"
PASSWORDS = {"ada": "lovelace", "grace": "hopper"}
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture
def site(start_server, step, tmp_path):
    """The demo site, serving a copy of the extension's static/."""
    folder = tmp_path / "static"
    shutil.copytree(step.folder / "static", folder)
    return start_server({"app": {"token": TOKEN, "static_root": str(folder), "password_rounds": 1000}})


def set_cookies(response):
    return response.raw.headers.getlist("Set-Cookie")


class Visitor:
    """A browser: a cookie jar (requests.Session) that keeps what Set-Cookie says, and a log of what it saw."""

    def __init__(self, site, name="the visitor", cookie=None):
        self.site = site
        self.name = name
        self.jar = requests.Session()
        self.log = []
        if cookie is not None:
            self.jar.cookies.set("session", cookie, domain="127.0.0.1", path="/")

    def close(self):
        self.jar.close()

    @property
    def cookie(self):
        return self.jar.cookies.get("session")

    def ask(self, method, path, **kwargs):
        sent_cookie = "; ".join(f"{name}={value}" for name, value in self.jar.cookies.items())
        response = fetch(self.site, method, path, client=self.jar, allow_redirects=False, **kwargs)
        line = f"{self.name}: {method} {path}" + (f"  (Cookie: {short(sent_cookie)})" if sent_cookie else "")
        if kwargs.get("data"):
            line += "  form: " + "&".join(f"{key}={short(value, 12)}" for key, value in kwargs["data"].items())
        answer = f"    -> {response.status_code}" + "".join(
            f"  Location: {response.headers['Location']}" for _ in [1] if "Location" in response.headers)
        answer += "".join(f"\n       Set-Cookie: {short(value, 60)}" for value in set_cookies(response))
        self.log.append(f"{line}\n{answer}")
        return response

    def fail(self, summary, expected, meaning, todo=None, response=None):
        received = None
        if response is not None:
            fields = [f"Location: {response.headers['Location']}"] if "Location" in response.headers else []
            fields += [f"Set-Cookie: {short(value, 90)}" for value in set_cookies(response)]
            received = "\n".join([str(response.status_code), *fields, f"body starting {response.text[:100]!r}"])
        return CheckFailed(summary, sent="\n".join(self.log[-6:]), expected=expected, received=received,
                           meaning=meaning, server_output=self.site.output(), todo=todo)

    def expect(self, response, status, location=None, what=""):
        if response.status_code != status or (location and response.headers.get("Location") != location):
            wanted = f"{status}" + (f" with Location: {location}" if location else "")
            raise self.fail(f"{what or 'The answer'} was not {wanted}.", wanted,
                            "Each step of the conversation is in Sent, with the cookie the visitor's jar held; a 500's "
                            "traceback is in the server's output below.", response=response)
        return response

    def csrf_token(self, response):
        found = CSRF_INPUT.search(response.text)
        if not found:
            raise self.fail("The page has no csrf_token field.", "<input type=\"hidden\" name=\"csrf_token\" ...>",
                            "The login and account pages put the session's CSRF token in their forms.",
                            response=response)
        return found.group(1)

    def log_in(self, user="ada", password=None):
        """GET /login, then send its form: returns the cookie the visitor had before logging in."""
        page = self.expect(self.ask("GET", "/login"), 200, what="GET /login")
        before = self.cookie
        if before is None:
            raise self.fail("GET /login set no session cookie.", "Set-Cookie: session=<id>.<signature>; ...",
                            "The login page starts a session (it holds the form's CSRF token), and save() sends "
                            "its cookie.", todo=7, response=page)
        form = {"csrf_token": self.csrf_token(page), "username": user, "password": password or PASSWORDS[user]}
        self.expect(self.ask("POST", "/login", data=form), 303, "/account", what="POST /login with the right password")
        return before


def short(text, limit=24):
    return text if len(text) <= limit else text[:limit] + "…"


def changed(text):
    """``text`` with its first character replaced by another (one whose base64 value differs in its top bits)."""
    return ("z" if text[0] in "ABCDEFGHIJKLMNOP" else "A") + text[1:]


def is_cleared(response):
    """Whether a Set-Cookie tells the browser to forget the session cookie: Max-Age=0, whatever the value."""
    return any(value.startswith("session=") and "max-age=0" in value.lower().replace(" ", "").split(";")
               for value in set_cookies(response))


@pytest.mark.task(5, needs=(1, 2, 3, 4, 6, 7, 8))
@pytest.mark.hint("At login the site calls store.rotate(request.session): it must return a session with a new id "
                  "and forget the old one, and save() then sends the new id's cookie.", docs="#a-fresh-id-at-login")
def test_logging_in_moves_the_visitor_to_a_fresh_session(site):
    """Logging in through the form sets a new session cookie; the id from before the login no longer works"""
    visitor = Visitor(site)
    before = visitor.log_in()
    if visitor.cookie in (None, before):
        raise visitor.fail("Logging in did not change the session cookie.", "a Set-Cookie with a new session id "
                           "on the 303", "Session fixation: whoever knew or planted the id before the login would "
                           "be logged in with it after.")
    account = visitor.expect(visitor.ask("GET", "/account"), 200, what="GET /account after logging in")
    if "Hello, ada!" not in account.text:
        raise visitor.fail("/account does not greet ada.", "a page with \"Hello, ada!\"",
                           "The session found from the cookie holds {\"user\": \"ada\"}.", response=account)
    planted = Visitor(site, "someone with the id from before the login", cookie=before)
    visitor.log = planted.log = visitor.log + planted.log
    answer = planted.ask("GET", "/account")
    if answer.status_code != 303:
        raise planted.fail("The session id from before the login still finds the logged-in session.",
                           "303 to /login: that id was forgotten at login", "An id someone planted in the victim's "
                           "browser before the login must be worth nothing after it: rotate() deletes the old id.",
                           response=answer)
    visitor.close()
    planted.close()


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5, 7, 8))
@pytest.mark.hint("load() returns None unless unsign() accepts the cookie and the store knows the id; then the "
                  "site treats the visitor as logged out, and save() clears the cookie.", docs="#finding-the-session")
def test_a_changed_or_made_up_cookie_finds_no_session(site):
    """A session cookie changed by one character, or made up, gets the login page and a cleared cookie"""
    visitor = Visitor(site)
    visitor.log_in()
    good = visitor.cookie
    session_id, _, signature = good.rpartition(".")
    forgeries = [
        (f"{changed(session_id)}.{signature}", "the id changed by one character"),
        (f"{session_id}.{changed(signature)}", "the signature changed by one character"),
        (session_id, "the id without its signature"),
        ("made-up.cookie", "a made-up cookie"),
    ]
    for cookie, what in forgeries:
        forger = Visitor(site, f"someone with {what}", cookie=cookie)
        answer = forger.ask("GET", "/account")
        forger.log = visitor.log + forger.log
        if answer.status_code != 303 or answer.headers.get("Location") != "/login":
            raise forger.fail(f"A cookie with {what} got {answer.status_code} from /account.", "303 to /login",
                              "Only the cookie the server signed finds the session: one changed character must "
                              "fail the signature.", response=answer)
        if not is_cleared(answer):
            raise forger.fail(f"A cookie with {what} was not cleared.", "Set-Cookie: session=; Max-Age=0; ...",
                              "A cookie that finds no session is cleared, so the browser stops sending it.",
                              todo=7, response=answer)
        forger.close()
    visitor.close()


@pytest.mark.task(5, needs=(1, 2, 3, 4, 6, 7, 8))
@pytest.mark.hint("At logout the site calls store.delete(session.id) and sets request.session = None: delete() must "
                  "forget the id, and save() clears the cookie with Max-Age=0.", docs="#a-fresh-id-at-login")
def test_logging_out_ends_the_session_on_the_server(site):
    """Logging out clears the cookie, and a copy of the cookie kept from before no longer works"""
    visitor = Visitor(site)
    visitor.log_in()
    kept = visitor.cookie
    account = visitor.expect(visitor.ask("GET", "/account"), 200, what="GET /account after logging in")
    answer = visitor.expect(visitor.ask("POST", "/logout", data={"csrf_token": visitor.csrf_token(account)}), 303,
                            "/", what="POST /logout with the CSRF token")
    if not is_cleared(answer):
        raise visitor.fail("Logging out did not clear the cookie.", "Set-Cookie: session=; Max-Age=0; ...",
                           "With request.session set to None, save() tells the browser to forget the cookie.",
                           todo=7, response=answer)
    copy = Visitor(site, "someone with a copy of the cookie from before the logout", cookie=kept)
    answer = copy.ask("GET", "/account")
    copy.log = visitor.log + copy.log
    if answer.status_code != 303:
        raise copy.fail("A copy of the cookie still finds the session after logout.", "303 to /login",
                        "Clearing the cookie only asks the browser to forget it; a copy kept elsewhere (a shared "
                        "computer, a stolen cookie) works until the server forgets the session: delete().",
                        response=answer)
    visitor.close()
    copy.close()


@pytest.mark.task(8, needs=(1, 2, 3, 4, 5, 6, 7))
@pytest.mark.hint("check_csrf() runs before every handler: a POST whose form has no csrf_token (and no "
                  "X-CSRF-Token header) gets 403, with or without a session.", docs="#forms-from-elsewhere")
def test_a_form_from_another_site_is_refused(site):
    """A logout or login form sent without the CSRF token, as another site's page would send it, gets 403"""
    visitor = Visitor(site)
    visitor.log_in()
    cross_site = {"Origin": "http://evil.example", "Referer": "http://evil.example/"}
    answer = visitor.ask("POST", "/logout", data={"go": "1"}, headers=cross_site)
    if answer.status_code != 403:
        raise visitor.fail(f"A logout form without the CSRF token got {answer.status_code}.", "403 Forbidden",
                           "Any page on the web can hold a form that posts to /logout; the browser sends the "
                           "cookie with it. Only the token, which that page cannot read, shows the form is ours.",
                           todo=8, response=answer)
    visitor.expect(visitor.ask("GET", "/account"), 200, what="GET /account after the refused logout")
    stranger = Visitor(site, "a visitor with no session")
    answer = stranger.ask("POST", "/login", data={"username": "ada", "password": "lovelace"}, headers=cross_site)
    stranger.log = visitor.log + stranger.log
    if answer.status_code != 403:
        raise stranger.fail(f"A login form without a session or CSRF token got {answer.status_code}.",
                            "403 Forbidden", "Login CSRF: another site could log you in to an account of the "
                            "attacker's, and read what you then type into it. check_csrf() refuses a request "
                            "that may change something when there is no session to hold a token.",
                            todo=8, response=answer)
    visitor.close()
    stranger.close()


# Cookie headers a real server meets, from broken clients, old scripts and people poking at it.
ODD_COOKIES = [b"", b";", b"=", b"session", b"session=", b"session=.", b'session="', b'session=""',
               b"session=a.b.c", b"session=\xff\xfe.\x80", b"session=" + b"A" * 3000 + b".x",
               b"a=1; session; b", b"session=abc; session=def", b"\tsession=x.y\t", b"=; ==; session==="]


@pytest.mark.task(1, needs=(2, 3, 4, 5, 6, 7, 8))
@pytest.mark.hint("parse_cookie() must never raise: skip what is not name=value, and let a value that is not "
                  "a signed id fail in unsign(), which returns None.", docs="#reading-cookies")
def test_odd_cookie_headers_get_an_answer_not_a_500(site):
    """Broken, empty or strange Cookie headers get the login redirect that h11 reads, never a 500"""
    for cookie in ODD_COOKIES:
        data = b"GET /account HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: " + cookie + b"\r\nConnection: close\r\n\r\n"
        result = exchange(site, data)
        expect_response(result, 303, "303 See Other to /login: this cookie finds no session")


@pytest.mark.task(4, needs=(1, 2, 3, 5, 6, 7, 8))
@pytest.mark.hint("Every connection's thread shares one SessionStore: create(), get(), rotate() and delete() change "
                  "self.sessions only inside \"with self.lock:\".", docs="#the-store")
def test_visitors_logging_in_at_once_each_keep_their_own_session(site):
    """Twenty visitors log in at once, as ada or grace; each then sees their own name, under a cookie of their own"""
    visitors = [Visitor(site, f"visitor {number + 1}") for number in range(20)]
    start = threading.Barrier(len(visitors))
    failures = []
    seen = {}

    def visit(number, visitor):
        user = "ada" if number % 2 else "grace"
        try:
            start.wait()
            visitor.log_in(user)
            page = visitor.expect(visitor.ask("GET", "/account"), 200, what="GET /account after logging in")
            seen[number] = (user, f"Hello, {user}!" in page.text, visitor.cookie)
        except (CheckFailed, threading.BrokenBarrierError) as failure:
            failures.append(failure)
            start.abort()

    threads = [threading.Thread(target=visit, args=pair) for pair in enumerate(visitors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for visitor in visitors:
        visitor.close()
    real = [failure for failure in failures if isinstance(failure, CheckFailed)]
    if real:
        raise real[0]
    wrong = [f"visitor {number + 1} ({user})" for number, (user, greeted, _) in sorted(seen.items()) if not greeted]
    cookies = {cookie for _, _, cookie in seen.values()}
    if wrong or len(cookies) != len(visitors):
        raise CheckFailed(
            "Visitors logging in at the same time got each other's sessions.",
            sent="20 visitors, each with a cookie jar of their own, all at once: GET /login, POST /login, GET /account",
            expected="each greeted by their own name, 20 different session cookies",
            received=f"{len(wrong)} greeted by another name ({', '.join(wrong[:4])}), {len(cookies)} different cookies",
            meaning="Sessions are kept apart by their ids alone: each create() must make a fresh one, and the store "
                    "shared by every thread must change only under its lock.",
            server_output=site.output(),
        )
