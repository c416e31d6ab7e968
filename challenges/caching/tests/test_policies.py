"""caching — how long each answer may be kept: CacheControlMiddleware, called directly and over real connections.

The checks call your policy() and after_request() (middleware.py) with requests and responses
made for them, then ask the demo site itself: the server runs with the token "test-token" and
serves a folder made for the checks (see conftest.py).
"""

import re
import time
from email.utils import parsedate_to_datetime

import pytest

from checks.expect import IMF_FIXDATE, expect_response
from checks.report import CheckFailed
from checks.unit import call, expect_equal
from checks.wire import exchange, fetch

TOKEN = "test-token"  # the demo site's token in these checks (conftest.py starts the server with it)
PRIVATE = ("/api/private", "/api/private/*", "/api/echo")
IMMUTABLE = "public, max-age=31536000, immutable"
A_YEAR = 31536000
HOUR = "max-age=3600"


def policy_of(middleware_module, make_request, response_module, method, path, status, target=None, **settings):
    middleware = middleware_module.CacheControlMiddleware(private=PRIVATE, **settings)
    request = make_request(method, path, target=target)
    response = response_module.HTTPResponse(status, b"")
    shown = f"policy({method} {target or path}, a {status} response)"
    if settings:
        shown = f"CacheControlMiddleware({', '.join(f'{k}={v!r}' for k, v in settings.items())}).{shown}"
    return shown, call(middleware.policy, request, response, shown=shown)


@pytest.mark.task(1)
@pytest.mark.hint("In order: a path that covers() one of self.private is no-store, whatever the status; an "
                  "answer that is not 200, 206 or 304 gets None; under self.static, IMMUTABLE when the name "
                  "fullmatches FINGERPRINTED, else f\"max-age={self.max_age}\"; anything else no-cache.",
                  docs="#four-policies")
def test_each_answer_gets_its_policy(middleware_module, make_request, response_module):
    """policy gives the private API no-store, static files max-age, fingerprinted ones a year, pages no-cache, errors nothing"""
    cases = [
        ("GET", "/api/private", 200, "no-store", "the private API's answers must never be stored"),
        ("GET", "/api/private/keys", 200, "no-store", "a path under /api/private/ is private too (\"/api/private/*\")"),
        ("POST", "/api/echo", 200, "no-store", "the echo needs the token: it is private"),
        ("GET", "/static/style.css", 200, HOUR, "a static file may be kept max_age (3600) seconds"),
        ("HEAD", "/static/guide/", 200, HOUR, "HEAD gets the head GET would get, policy included"),
        ("GET", "/static/style.css", 304, HOUR,
         "a 304 must repeat the Cache-Control a 200 would carry (RFC 9110, section 15.4.5)"),
        ("GET", "/static/movie.mp4", 206, HOUR, "a 206 carries the Cache-Control a 200 would (RFC 9110, 15.3.7)"),
        ("GET", "/static/app.3f2a9c1e.js", 200, IMMUTABLE, "app.3f2a9c1e.js is fingerprinted: keep it a year"),
        ("GET", "/static/app.3f2a9c1e.js", 304, IMMUTABLE, "a 304 repeats the 200's policy"),
        ("GET", "/about", 200, "no-cache", "a page may change: store it, but ask before each use"),
        ("GET", "/", 200, "no-cache", "the home page is a page too"),
        ("GET", "/api/data", 200, "no-cache", "data may change: ask before each use"),
        ("GET", "/static/app.3f2a9c1e.js", 404, None,
         "an error gets no policy: a 404 kept for a year would hide the file once it is deployed"),
        ("GET", "/static/style.css", 416, None, "an error gets no policy"),
        ("GET", "/static/style.css", 412, None, "an error gets no policy"),
        ("GET", "/nowhere", 404, None, "an error gets no policy"),
        ("POST", "/about", 405, None, "an error gets no policy"),
        ("GET", "/about", 500, None, "an error gets no policy"),
    ]
    for method, path, status, expected, why in cases:
        shown, got = policy_of(middleware_module, make_request, response_module, method, path, status)
        expect_equal(f"{shown}", got, expected, sent=f"{method} {path}, answered {status}",
                     meaning=f"Expected {expected!r} because {why}.")
    for method, path, status, expected, why in [
        ("GET", "/files/notes.txt", 200, "max-age=60", "static files are under /files/ here, kept max_age=60 s"),
        ("GET", "/static/notes.txt", 200, "no-cache", "with static=\"/files/\", /static/ is no static folder"),
    ]:
        shown, got = policy_of(middleware_module, make_request, response_module, method, path, status,
                               static="/files/", max_age=60)
        expect_equal(shown, got, expected, sent=f"{method} {path}, answered {status}",
                     meaning=f"Expected {expected!r} because {why}: use self.static and self.max_age.")
    for method, target, status, expected, why in [
        ("GET", "/api/private?page=2", 200, "no-store", "/api/private with a query is still the private API"),
        ("POST", "/api/echo?x=1", 200, "no-store", "the echo with a query is still the echo"),
        ("GET", "/static/app.3f2a9c1e.js?v=2", 200, IMMUTABLE, "the file's name is app.3f2a9c1e.js, whatever the query"),
    ]:
        shown, got = policy_of(middleware_module, make_request, response_module, method, target.partition("?")[0],
                               status, target=target)
        expect_equal(shown, got, expected, sent=f"{method} {target}, answered {status}",
                     meaning=f"Expected {expected!r} because {why}. request.target holds the query too; "
                     "request.path is the path alone: match that.")


@pytest.mark.task(1)
@pytest.mark.hint("Take the last segment of the path (request.path.rpartition(\"/\")[2]) and test it with "
                  "FINGERPRINTED.fullmatch(name): a name, a dot, 8 or more hex digits, a dot, the extension.",
                  docs="#fingerprinted-names")
def test_only_a_fingerprinted_name_is_kept_for_a_year(middleware_module, make_request, response_module):
    """Only a name that holds its content's fingerprint, such as app.3f2a9c1e.js, is public, a year, and immutable"""
    for name, fingerprinted, why in [
        ("app.3f2a9c1e.js", True, "8 hex digits between the name and the extension"),
        ("style.99cd19c2.css", True, "another fingerprinted file"),
        ("logo.0123456789abcdef.png", True, "16 hex digits: more than 8 is fine"),
        ("vendor.min.3f2a9c1e.js", True, "the fingerprint comes right before the extension"),
        ("guide/chapter.deadbeef.html", True, "in a folder: the file's own name is what counts"),
        ("app.js", False, "no fingerprint: app.js may change tomorrow under the same name"),
        ("style.css", False, "no fingerprint"),
        ("feedface.css", False, "eight hex letters, but no name before them: that is just a name"),
        ("app.3f2a9c1.js", False, "7 hex digits: fewer than 8"),
        ("3f2a9c1e0b/app.js", False, "a folder that looks like a hash: the file's name has none"),
        ("app.3f2a9c1e-min.js", False, "the digits must stand between two dots"),
        ("app.3f2a9c1g.js", False, "g is not a hex digit"),
        ("app.3f2a9c1e.js.bak", False, "the name goes on after the extension: a leftover copy, which may change"),
        ("app.3f2a9c1e.js~", False, "an editor's backup: the whole name must have the form, not only its start"),
        ("backup.20240115.tar.gz", False, "the digits must come right before the last extension"),
    ]:
        path = f"/static/{name}"
        shown, got = policy_of(middleware_module, make_request, response_module, "GET", path, 200)
        expected = IMMUTABLE if fingerprinted else HOUR
        expect_equal(shown, got, expected, sent=f"GET {path}, answered 200",
                     meaning=f"{'Fingerprinted' if fingerprinted else 'Not fingerprinted'}: {why}. Only a name "
                     "that changes whenever the content does may be kept a year without asking: immutable on "
                     "app.js would leave every visitor with the old script for a year after a fix.")


def seconds_of(date):
    return parsedate_to_datetime(date).timestamp()


def expect_expires(what, headers, policy_seconds, sent, now):
    """Expires is an IMF-fixdate, ``policy_seconds`` after Date (or now, when there is no Date yet), within 1 s."""
    expires = headers.get("Expires")
    if expires is None or not IMF_FIXDATE.fullmatch(expires):
        raise CheckFailed(f"{what}: Expires is {'missing' if expires is None else repr(expires)}.", sent=sent,
                          expected=f"Expires: an IMF-fixdate in GMT, {policy_seconds} s after Date",
                          meaning="HTTP/1.0 caches know only Expires. Write it with formatdate(when, usegmt=True): "
                          "without usegmt it ends in -0000, which is not an HTTP date.")
    date = headers.get("Date")
    base = seconds_of(date) if date and IMF_FIXDATE.fullmatch(date) else now
    gap = seconds_of(expires) - base
    if abs(gap - policy_seconds) > 1:
        raise CheckFailed(f"{what}: Expires says something else than Cache-Control.", sent=sent,
                          expected=f"Expires {policy_seconds} s after {'Date' if date else 'now'} (give or take 1 s)",
                          received=f"Date: {date or '(none yet)'}\nExpires: {expires}  ({gap:+.0f} s)",
                          meaning="Expires is for caches that do not read Cache-Control: it must say the same. "
                          "Date plus the max-age; for no-store and no-cache, plus 0: stale at once.")


@pytest.mark.task(2)
@pytest.mark.hint("response.headers[\"Cache-Control\"] = policy; then Date and Expires from one clock: "
                  "now = time.time(); Date = formatdate(now, usegmt=True); Expires = formatdate(now + "
                  "max_age_of(policy), usegmt=True). When policy() says None, set nothing.",
                  docs="#the-headers-that-say-it")
def test_after_request_says_the_policy_twice(middleware_module, make_request, response_module):
    """after_request sets the policy as Cache-Control, with an Expires that says the same; None sets nothing"""
    for policy, seconds in [("max-age=60", 60), (IMMUTABLE, A_YEAR), ("no-store", 0), ("no-cache", 0), (None, None)]:
        middleware = middleware_module.CacheControlMiddleware(private=PRIVATE)
        middleware.policy = lambda request, response, policy=policy: policy  # this check grades after_request alone
        request = make_request("GET", "/static/x.txt")
        given = response_module.HTTPResponse(200, b"x")
        shown = f"after_request(request, response), with policy() saying {policy!r}"
        now = time.time()
        response = call(middleware.after_request, request, given, shown=shown)
        if not hasattr(response, "headers"):
            raise CheckFailed(f"{shown} did not return the response.", received=repr(response),
                              meaning="An after must end with `return response`.")
        if policy is None:
            extra = [name for name in ("Cache-Control", "Expires") if name in response.headers]
            if extra:
                raise CheckFailed(f"{shown} set {' and '.join(extra)}.", received=f"Cache-Control: "
                                  f"{response.headers.get('Cache-Control')!r}, Expires: {response.headers.get('Expires')!r}",
                                  expected="neither: None means this answer gets no policy (an error, say)",
                                  meaning="Setting a header to None writes the word None into the response.")
            continue
        expect_equal(f"Cache-Control after {shown}", response.headers.get_all("Cache-Control"), [policy],
                     meaning="One Cache-Control field, holding what policy() said.")
        expect_expires(shown, response.headers, seconds, shown, now)


@pytest.mark.task(2)
@pytest.mark.hint("First thing in after_request: if \"Cache-Control\" in response.headers, return the response "
                  "as it is, without an Expires of your own.", docs="#the-headers-that-say-it")
def test_a_handlers_own_cache_control_is_kept(middleware_module, make_request, response_module, site_server):
    """A Cache-Control the handler set itself is kept as it is, with no Expires added; /api/time says max-age=5"""
    middleware = middleware_module.CacheControlMiddleware(private=PRIVATE)
    for path, own in [("/about", "max-age=5"), ("/static/style.css", "no-cache"), ("/api/private", "private, max-age=60")]:
        given = response_module.HTTPResponse(200, b"x", headers={"cache-control": own})
        shown = f"after_request(GET {path}, a 200 whose handler set cache-control: {own})"
        response = call(middleware.after_request, make_request("GET", path), given, shown=shown)
        got = (response.headers.get_all("Cache-Control"), response.headers.get("Expires"))
        expect_equal(f"Cache-Control and Expires after {shown}", got, ([own], None),
                     meaning="The handler knows its answer best: leave its Cache-Control alone, and add no "
                     "Expires, which would say something else to HTTP/1.0 caches.")
    answer = fetch(site_server, "GET", "/api/time")
    expect_equal("Cache-Control of GET /api/time (its handler sets max-age=5 itself)",
                 answer.headers.get("Cache-Control"), "max-age=5")
    expect_equal("Expires of GET /api/time", answer.headers.get("Expires"), None,
                 meaning="The handler chose its own policy: add nothing to it.")


def get(path, *header_lines, method="GET"):
    lines = "".join(f"{line}\r\n" for line in header_lines)
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode("latin-1")


def expect_policy(result, response, expected, seconds, what):
    """The answer's Cache-Control is ``expected``, with an Expires ``seconds`` after Date (neither when None).

    A wrong policy is policy()'s (TODO 1) when the answer has one, and a wrong Expires is
    after_request()'s (TODO 2): the failure says so, whichever TODO the check grades. A missing
    policy may be either's, and is left to the check's own TODO.
    """
    got = response.header("cache-control")
    if got != expected or response.header_count("cache-control") > 1:
        raise result.fail(f"The answer's Cache-Control is {got!r}.", f"Cache-Control: {expected} ({what})"
                          if expected else f"no Cache-Control at all ({what})",
                          todo=1 if got is not None and response.header_count("cache-control") == 1 else None)
    if expected is None:
        if response.header("expires") is not None:
            raise result.fail("The answer has an Expires but no policy.", f"no Expires ({what})", todo=2)
        return
    date, expires = response.header("date"), response.header("expires")
    if expires is None or not IMF_FIXDATE.fullmatch(expires) or abs(seconds_of(expires) - seconds_of(date) - seconds) > 1:
        raise result.fail(f"The answer's Expires is {expires!r}, with Date: {date}.",
                          f"Expires: {seconds} s after Date, as an IMF-fixdate ({what})", todo=2,
                          meaning="Expires must agree with max-age: Date plus the max-age, or plus 0 for no-store "
                          "and no-cache.")


@pytest.mark.task(2, needs=(1, 3, 7))
@pytest.mark.hint("In create_app, CacheControlMiddleware(private=PRIVATE) comes after CORS and before "
                  "authentication (it is there already); its after_request sets Cache-Control and Expires on "
                  "each answer policy() gives a policy to.", docs="#the-headers-that-say-it")
def test_the_site_tells_caches_what_to_keep(site_server, layout):
    """Over real connections: the private API is no-store, files an hour, fingerprinted ones a year, pages no-cache"""
    cases = [
        (get(f"/static/{layout.text_file}"), 200, HOUR, 3600, "a static file: an hour"),
        (get(f"/static/{layout.fingerprinted_file}"), 200, IMMUTABLE, A_YEAR, "a fingerprinted file: a year"),
        (get("/about"), 200, "no-cache", 0, "a page: ask every time"),
        (get("/api/data"), 200, "no-cache", 0, "data: ask every time"),
        (get("/api/private", f"Authorization: Bearer {TOKEN}"), 200, "no-store", 0, "the private API: never store"),
        (get("/static/missing.0123abcd.js"), 404, None, None, "an error: no policy"),
        (get("/about", method="POST"), 405, None, None, "an error: no policy"),
    ]
    for request, status, expected, seconds, what in cases:
        result = exchange(site_server, request)
        response = expect_response(result, status)
        expect_policy(result, response, expected, seconds, what)


@pytest.mark.task(1, needs=(2, 3, 4, 5, 6, 7))
@pytest.mark.hint("The 304 and the 206 answer for the same file as the 200: give 200, 206 and 304 the same "
                  "policy, and errors none.", docs="#four-policies")
def test_a_304_and_a_206_repeat_the_policy(site_server, layout):
    """A 304 and a 206 carry the Cache-Control and Expires the 200 carries: a cache updates what it keeps from them"""
    for name, policy, seconds in ((layout.text_file, HOUR, 3600), (layout.fingerprinted_file, IMMUTABLE, A_YEAR)):
        first = exchange(site_server, get(f"/static/{name}"))
        etag = expect_response(first, 200).header("etag")
        result = exchange(site_server, get(f"/static/{name}", f"If-None-Match: {etag}"))
        not_modified = expect_response(result, 304)
        if not_modified.header("etag") != etag:
            raise result.fail("The 304 does not repeat the file's ETag.", f"ETag: {etag}, as the 200 said", todo=7,
                              meaning="A 304 carries the fields a 200 would have for the same request: ETag, "
                              "Last-Modified, Cache-Control, Expires (RFC 9110, section 15.4.5), so that a cache can "
                              "update the copy it keeps.")
        expect_policy(result, not_modified, policy, seconds,
                      "the 200's policy: a 304 must repeat its Cache-Control and Expires (RFC 9110, section 15.4.5)")
        result = exchange(site_server, get(f"/static/{name}", "Range: bytes=0-4"))
        expect_policy(result, expect_response(result, 206), policy, seconds,
                      "the 200's policy: a 206 carries the Cache-Control and Expires a 200 would (RFC 9110, 15.3.7)")
