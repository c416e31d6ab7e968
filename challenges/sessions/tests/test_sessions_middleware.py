"""sessions — SessionMiddleware (sessions.py), called directly with requests made for the checks.

The store the middleware is given here is a stand-in that records what it is asked, so these
checks grade the middleware whatever state the learner's SessionStore is in.
"""

from urllib.parse import urlencode

import pytest

from checks.report import CheckFailed
from checks.unit import call, short


class StandInStore:
    """A store that knows the sessions it is given, never expires them, and records each id it is asked for."""

    def __init__(self, *sessions):
        self.sessions = {session.id: session for session in sessions}
        self.asked = []

    def get(self, session_id):
        self.asked.append(session_id)
        return self.sessions.get(session_id)

    def create(self, data=None):
        raise AssertionError("the middleware never creates a session: handlers do")

    def __len__(self):
        return len(self.sessions)


@pytest.fixture
def session_of(sessions_module):
    def make(session_id="the-session-id-" + "x" * 28, csrf_token="the-csrf-token-" + "y" * 28, data=None):
        return sessions_module.Session(session_id, csrf_token, 10 ** 9, data)

    return make


@pytest.fixture
def middleware(sessions_module, oracle):
    def make(*sessions, **options):
        return sessions_module.SessionMiddleware(StandInStore(*sessions), oracle.KEY, **options)

    return make


@pytest.mark.task(6, needs=(1, 3))
@pytest.mark.hint("signed = self.cookie(request); if it is None, return None; session_id = unsign(signed, "
                  "self.key); if that is None, return None; else return self.store.get(session_id).",
                  docs="#finding-the-session")
def test_the_cookie_brings_back_its_session(middleware, session_of, make_request, oracle):
    """load() finds the session of a correctly signed cookie, and turns away the rest before asking the store"""
    signed = oracle.signed
    session = session_of(data={"user": "ada"})
    sessions = middleware(session)
    store = sessions.store
    cases = [
        (f"session={signed(session.id)}", session, True, "the signed cookie"),
        (f"theme=dark; session={signed(session.id)}; lang=en", session, True, "the signed cookie among others"),
        (None, None, False, "no Cookie header"),
        ("theme=dark", None, False, "no session cookie"),
        (f"session={session.id}", None, False, "the id without its signature (a forged cookie)"),
        (f"session={signed(session.id)[:-3]}abc", None, False, "a signature that was changed"),
        (f"session={signed(session.id, oracle.OTHER_KEY)}", None, False, "a cookie signed with another key"),
        (f"session={signed('an-id-the-store-does-not-know')}", None, True, "a signed id the store does not know"),
        (f"session=x; sid={signed(session.id)}", session, True, "the signed cookie, for cookie_name=\"sid\""),
    ]
    for cookie, expected, asks_store, what in cases:
        if "sid" in what:
            sessions = middleware(session, cookie_name="sid")
            store = sessions.store
        store.asked.clear()
        request = make_request(cookie=cookie)
        got = call(sessions.load, request, shown=f"load(a request with {what})")
        if got is not expected:
            raise CheckFailed(
                f"load(a request with {what}) is not right.",
                sent=f"Cookie: {cookie}" if cookie else "(no Cookie header)",
                expected=repr(expected),
                received=short(got, 200),
                meaning="load() reads the cookie named self.cookie_name (self.cookie(request) does), checks its "
                        "signature with unsign(signed, self.key), and asks self.store.get() for that id.",
            )
        if bool(store.asked) != asks_store:
            raise CheckFailed(
                f"load(a request with {what}) {'asked' if store.asked else 'did not ask'} the store.",
                sent=f"Cookie: {cookie}" if cookie else "(no Cookie header)",
                expected="store.get() called with the id" if asks_store else "store.get() not called",
                received=f"store.get({short(store.asked[0], 30)})" if store.asked else "no call",
                meaning="A cookie whose signature does not match is turned away before the store is asked: a "
                        "forger learns nothing from the store, not even how long a lookup takes.",
            )


def after(sessions, request, response_module, started, now, shown):
    """after_request() with request.session_at_start = started and request.session = now."""
    request.session_at_start, request.session = started, now
    response = response_module.HTTPResponse(303, headers={"Location": "/account"})
    response.headers.add("Set-Cookie", "theme=dark; Path=/")  # the handler's own cookie
    got = call(sessions.after_request, request, response, shown=shown)
    if got is None or not hasattr(got, "headers"):
        raise CheckFailed(f"{shown} returned {short(got)}.", expected="the response", received=short(got),
                          meaning="after_request() returns the response it was given.")
    cookies = [value for name, value in got.headers if name.lower() == "set-cookie"]
    if "theme=dark; Path=/" not in cookies:
        folded = any("theme=dark; Path=/" in value for value in cookies)
        raise CheckFailed(
            f"{shown} folded the handler's own Set-Cookie into one field with yours." if folded
            else f"{shown} lost the handler's own Set-Cookie.",
            expected="Set-Cookie: theme=dark; Path=/ still there, beside yours",
            received="\n".join(f"Set-Cookie: {value}" for value in cookies) or "(no Set-Cookie)",
            meaning="Each cookie needs a Set-Cookie field of its own (RFC 6265, section 3: never folded into one "
                    "line with commas, since dates hold commas): add yours with response.headers.add(), which "
                    "keeps the others; response.headers[...] = replaces them.",
        )
    return [value for value in cookies if value != "theme=dark; Path=/"]


def expect_session_cookie(oracle, cookies, shown, name, session, secure):
    signed = oracle.signed
    wanted = f"{name}={signed(session.id)}; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
    good = False
    if len(cookies) == 1:
        cookie_name, value, attributes = oracle.attributes_of(cookies[0])
        good = (cookie_name == name and value == signed(session.id) and attributes.get("path") == "/"
                and attributes.get("httponly") is True and attributes.get("samesite") == "Lax"
                and ("secure" in attributes) == secure and "max-age" not in attributes)
    if not good:
        ours = [value for value in cookies if value.startswith(f"{name}={signed(session.id)}")]
        raise CheckFailed(
            f"{shown} sent the session's cookie with the wrong attributes." if len(cookies) == len(ours) == 1
            else f"{shown} did not send the session's cookie.",
            expected=f"one Set-Cookie: {wanted} (attributes in any order; no Max-Age)",
            received="\n".join(f"Set-Cookie: {value}" for value in cookies) or "(no Set-Cookie of yours)",
            meaning="A session whose id the browser does not have yet (new, or moved by rotate() at login) "
                    "needs Set-Cookie with sign(session.id, self.key), made by set_cookie() with secure=self.secure."
                    " Without Max-Age, the cookie ends when the browser closes; the server ends the session sooner"
                    " if it idles.",
        )


@pytest.mark.task(7, needs=(1, 2, 3))
@pytest.mark.hint("In save(): if request.session is not None and its id differs from request.session_at_start's "
                  "(or that is None), response.headers.add(\"Set-Cookie\", set_cookie(self.cookie_name, "
                  "sign(session.id, self.key), secure=self.secure)).", docs="#keeping-the-cookie")
def test_a_new_or_moved_session_sends_its_signed_cookie(middleware, session_of, make_request, response_module, oracle):
    """A session the browser does not have yet gets Set-Cookie with its signed id; an unchanged one gets none"""
    signed = oracle.signed
    old, new = session_of("the-old-id-" + "o" * 32), session_of("the-new-id-" + "n" * 32)
    for options, name in (({}, "session"), ({"secure": True, "cookie_name": "sid"}, "sid")):
        sessions = middleware(old, new, **options)
        shown = f"after_request(a request that started a session){' with secure=True' if options else ''}"
        cookies = after(sessions, make_request(path="/login"), response_module, None, new, shown)
        expect_session_cookie(oracle, cookies, shown, name, new, "secure" in options)
        shown = "after_request(a request whose session rotate() moved to a new id)"
        cookies = after(sessions, make_request(cookie=f"{name}={signed(old.id)}"), response_module, old, new, shown)
        expect_session_cookie(oracle, cookies, shown, name, new, "secure" in options)
        shown = "after_request(a request whose session did not change)"
        cookies = after(sessions, make_request(cookie=f"{name}={signed(old.id)}"), response_module, old, old, shown)
        if cookies:
            raise CheckFailed(
                f"{shown} sent a Set-Cookie.",
                expected="no Set-Cookie: the browser already has this cookie",
                received="\n".join(f"Set-Cookie: {value}" for value in cookies),
                meaning="A cookie is sent when its value changes, not with every answer.",
            )


@pytest.mark.task(7, needs=(1, 2, 3))
@pytest.mark.hint("In save(), when request.session is None but self.cookie(request) is not None, add "
                  "Set-Cookie: set_cookie(self.cookie_name, \"\", max_age=0, secure=self.secure).",
                  docs="#keeping-the-cookie")
def test_an_ended_session_clears_its_cookie(middleware, session_of, make_request, response_module, oracle):
    """After logout, or for a cookie that found no session, the cookie is cleared with Max-Age=0"""
    signed = oracle.signed
    session = session_of()
    sessions = middleware(session)
    cases = [
        ("a request whose session was ended (logout)", f"session={signed(session.id)}", session),
        ("a request whose cookie found no session", f"session={signed('an-unknown-id')}", None),
        ("a request whose cookie was forged", "session=made-up", None),
    ]
    for what, cookie, started in cases:
        shown = f"after_request({what})"
        cookies = after(sessions, make_request(cookie=cookie), response_module, started, None, shown)
        parsed = [oracle.attributes_of(value) for value in cookies]
        if len(parsed) != 1 or parsed[0][0] != "session" or parsed[0][2].get("max-age") != "0" \
                or parsed[0][2].get("path") != "/":
            raise CheckFailed(
                f"{shown} did not clear the session cookie.",
                sent=f"Cookie: {cookie}",
                expected="one Set-Cookie: session=; Path=/; Max-Age=0 (and HttpOnly; SameSite=Lax)",
                received="\n".join(f"Set-Cookie: {value}" for value in cookies) or "(no Set-Cookie of yours)",
                meaning="Max-Age=0 tells the browser to forget the cookie now. Its Path must be the one it was "
                        "set with, or the browser treats it as another cookie and keeps the first.",
            )
    secure = middleware(session_of(), secure=True)
    shown = "after_request(a request whose cookie found no session), with secure=True"
    cookies = after(secure, make_request(cookie="session=made-up"), response_module, None, None, shown)
    if len(cookies) != 1 or "secure" not in oracle.attributes_of(cookies[0])[2]:
        raise CheckFailed(
            f"{shown} cleared the cookie without Secure.",
            sent="Cookie: session=made-up",
            expected="one Set-Cookie: session=; Path=/; Max-Age=0; Secure (and HttpOnly; SameSite=Lax)",
            received="\n".join(f"Set-Cookie: {value}" for value in cookies) or "(no Set-Cookie of yours)",
            meaning="The cookie that clears one must say what the one that set it said: a browser refuses a "
                    "__Host- or __Secure- cookie without Secure, and would keep the old one. Pass "
                    "secure=self.secure here too.",
        )
    sids = middleware(session, cookie_name="sid")
    shown = "after_request(a request whose cookie found no session), with cookie_name=\"sid\""
    cookies = after(sids, make_request(cookie="sid=made-up"), response_module, None, None, shown)
    if [oracle.attributes_of(value)[0] for value in cookies] != ["sid"]:
        raise CheckFailed(
            f"{shown} did not clear the sid cookie.",
            sent="Cookie: sid=made-up",
            expected="one Set-Cookie: sid=; Path=/; Max-Age=0 (the cookie is called self.cookie_name)",
            received="\n".join(f"Set-Cookie: {value}" for value in cookies) or "(no Set-Cookie of yours)",
        )
    shown = "after_request(a request with no cookie and no session)"
    cookies = after(sessions, make_request(cookie="theme=dark"), response_module, None, None, shown)
    if cookies:
        raise CheckFailed(
            f"{shown} sent a Set-Cookie.",
            expected="no Set-Cookie: there is neither a session to send nor a cookie to clear",
            received="\n".join(f"Set-Cookie: {value}" for value in cookies),
            meaning="Clearing a cookie the browser does not have only adds noise to every answer.",
        )


def status_of(answer):
    return None if answer is None else int(answer.status)


@pytest.mark.task(8)
@pytest.mark.hint("If request.method is in SAFE_METHODS, return None. Else given = "
                  "request.headers.get(CSRF_HEADER) or form(request).get(CSRF_FIELD, \"\"); return "
                  "error_response(HTTPStatus.FORBIDDEN, ...) unless request.session is not None, given is not "
                  "empty and hmac.compare_digest(given.encode(), request.session.csrf_token.encode()).",
                  docs="#forms-from-elsewhere")
def test_a_request_that_changes_something_needs_the_csrf_token(middleware, session_of, make_request,
                                                               sessions_module):
    """check_csrf() lets safe methods through, and anything else only with the session's CSRF token"""
    session = session_of()
    sessions = middleware(session)
    right = session.csrf_token
    header = sessions_module.CSRF_HEADER
    through = [
        ("GET", {}, None, session, "a GET"), ("HEAD", {}, None, session, "a HEAD"),
        ("OPTIONS", {}, None, None, "an OPTIONS with no session"),
        ("POST", {}, {"csrf_token": right, "username": "ada"}, session, "a form with the right token"),
        ("POST", {header: right}, None, session, f"a POST with the right token in {header}"),
        ("DELETE", {header: right}, None, session, f"a DELETE with the right token in {header}"),
    ]
    refused = [
        ("POST", {}, {"username": "ada"}, session, "a form with no token"),
        ("POST", {}, {"csrf_token": "", "username": "ada"}, session, "a form with an empty token"),
        ("POST", {}, {"csrf_token": right[:-1]}, session, "a form with the token but its last character"),
        ("POST", {}, {"csrf_token": right + "x"}, session, "a form with the token and one character more"),
        ("POST", {}, {"csrf_token": "guess"}, session, "a form with a wrong token"),
        ("POST", {header: "guess"}, None, session, f"a POST with a wrong token in {header}"),
        ("POST", {}, {"csrf_token": "é" + right[1:]}, session, "a form with a non-ASCII token"),
        ("POST", {header: "é" + right[1:]}, None, session, f"a POST with a non-ASCII token in {header}"),
        ("POST", {}, {"csrf_token": right}, None, "a form with a token, but no session"),
        ("PUT", {}, None, session, "a PUT with no token"), ("DELETE", {}, None, session, "a DELETE with no token"),
        ("PATCH", {}, None, session, "a PATCH with no token"),
        ("PROPFIND", {}, None, session, "a PROPFIND (a method of WebDAV) with no token"),
    ]
    in_the_address = ("POST", {}, None, session, "a POST with the token in the query string, where logs and "
                      "the Referer header carry it")
    refused.append(in_the_address)
    for method, headers, form, started, what in through + refused:
        query = f"csrf_token={right}" if what == in_the_address[-1] else ""
        request = make_request(method, "/logout", headers=list(headers.items()), form=form, query=query)
        request.session = request.session_at_start = started
        answer = call(sessions.check_csrf, request, shown=f"check_csrf({what})")
        expected = None if (method, headers, form, started, what) in through else 403
        if status_of(answer) != expected:
            raise CheckFailed(
                f"check_csrf({what}) is not right.",
                sent=f"{method} /logout{'?' + query if query else ''}" + "".join(f"\n{name}: {value}" for name, value in headers.items())
                     + (f"\nContent-Type: application/x-www-form-urlencoded\n\n{urlencode(form)}" if form else "")
                     + ("" if started else "\n(and no session)"),
                expected="None (let it through)" if expected is None else "a 403 Forbidden response",
                received="None" if answer is None else f"a response with status {status_of(answer)}",
                meaning="A page of another site can make your browser send a form here, cookie and all; it cannot "
                        "read the CSRF token in this site's pages. So every request that may change something "
                        "(any method but GET, HEAD, OPTIONS and TRACE, whatever it is called) must carry the "
                        "session's token, exactly, in the X-CSRF-Token header or the form: never in the address.",
            )


@pytest.mark.task(8)
@pytest.mark.hint("Compare the token given with request.session.csrf_token by hmac.compare_digest, as bytes.",
                  docs="#forms-from-elsewhere")
def test_csrf_tokens_are_compared_in_constant_time(middleware, session_of, make_request, compare_digest_calls):
    """check_csrf() compares tokens with hmac.compare_digest"""
    compared = compare_digest_calls
    session = session_of()
    sessions = middleware(session)
    for token in (session.csrf_token, "guess" + session.csrf_token[5:]):
        request = make_request("POST", "/logout", form={"csrf_token": token})
        request.session = request.session_at_start = session
        call(sessions.check_csrf, request, shown="check_csrf(a form with a token)")
        if not compared:
            raise CheckFailed(
                "check_csrf() did not call hmac.compare_digest.",
                expected="the token given compared with the session's by hmac.compare_digest",
                received="no call to it",
                meaning="== stops at the first character that differs, so its time tells a patient attacker how "
                        "much of a guess is right; hmac.compare_digest takes as long whatever matches.",
            )
        compared.clear()
