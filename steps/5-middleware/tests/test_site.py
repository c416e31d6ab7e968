"""Step 5 — the finished server: CORS, authentication and the demo site, over real connections.

The server runs the demo site of app.py with the token "test-token" and the
step's own static folder. Every response is read by h11.
"""

import json
from html.parser import HTMLParser

import pytest

from checks.expect import expect_response
from checks.report import CheckFailed
from checks.unit import call, expect_equal
from checks.wire import exchange, get_request


TOKEN = "test-token"


def seen(response):
    """A response's status, or what it was if not a response."""
    status = getattr(response, "status", None)
    return status if isinstance(status, int) else type(response).__name__


@pytest.fixture
def site(start_server, step):
    return start_server({"app": {"token": TOKEN, "static_root": str(step.folder / "static")}})


def request(method, path, *headers):
    lines = "".join(f"{header}\r\n" for header in headers)
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode()


@pytest.mark.task(5, needs=(1, 3))
@pytest.mark.hint("CorsMiddleware's own checks grade its code; this one grades the finished site. In create_app, "
                  "CORS goes in the Pipeline before (outside) authentication, so its after runs for every "
                  "response, refusals included.", docs="#cors-before-authentication")
def test_a_cross_origin_request_is_allowed(site):
    """A request from another origin gets Access-Control-Allow-Origin, on errors too"""
    # The 401 is authentication's to get right (its own checks say when it is not): here, any status will do.
    for method, path, status in (("GET", "/api/data", 200), ("GET", "/static/missing.css", 404),
                                 ("GET", "/api/private", None), ("POST", "/about", 405)):
        result = exchange(site, request(method, path, "Origin: https://elsewhere.example"))
        response = expect_response(result, status) if status else result.response()
        expect_equal(f"Access-Control-Allow-Origin on the {response.status} for {method} {path}",
                     response.header("access-control-allow-origin"), "*", sent=result.sent,
                     meaning="Without it, the browser hides the response from the other page, refusals and "
                     "errors included: the page cannot even tell its user to log in. CORS's after must run "
                     "for every response, and wrap authentication's.")


@pytest.mark.task(5, needs=(1, 3))
@pytest.mark.hint("A preflight never carries the token: in create_app, CorsMiddleware comes before "
                  "AuthMiddleware, so it answers the preflight before authentication sees it.",
                  docs="#cors-before-authentication")
def test_a_preflight_is_answered(site):
    """A CORS preflight gets 204 with the allowed origin, methods and headers"""
    result = exchange(site, request("OPTIONS", "/api/private", "Origin: https://elsewhere.example",
                                    "Access-Control-Request-Method: POST",
                                    "Access-Control-Request-Headers: Authorization"))
    response = expect_response(result, 204, what="204 No Content with the Access-Control-Allow-* headers")
    methods = response.header("access-control-allow-methods") or ""
    headers = (response.header("access-control-allow-headers") or "").lower()
    if response.header("access-control-allow-origin") != "*" or "POST" not in methods or "authorization" not in headers:
        raise result.fail("The preflight answer does not allow the request the browser asked about.",
                          "Access-Control-Allow-Origin: *, Allow-Methods with POST, Allow-Headers with Authorization",
                          meaning="The browser sends the real request only if the preflight says yes. A preflight "
                          "never carries the token, so it must be answered before authentication.")


@pytest.mark.task(3)
@pytest.mark.hint("With a list of origins, answer with the request's own Origin if it is listed, and add "
                  "Vary: Origin with headers.add, keeping any Vary already there; an origin not listed gets no CORS "
                  "header at all.", docs="#which-origins-to-allow")
def test_listed_origins_are_reflected_with_vary(learner_module):
    """With a list of origins, a listed one is named back with Vary: Origin, on errors too; others get nothing"""
    middleware_module, response_module = learner_module("middleware"), learner_module("response")
    parse_request = learner_module("request").parse_request
    cors = middleware_module.CORSMiddleware(origins=["https://a.example", "https://b.example"])
    a, b = "https://a.example", "https://b.example"
    cases = ((a, a, None, 200), (b, b, None, 200), ("https://c.example", None, None, 200),
             (a, a, "Accept-Encoding", 200), (b, b, None, 404), (a, a, None, 401))
    for origin, expected, vary_before, status in cases:
        req, _ = parse_request(f"GET / HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n\r\n".encode())
        given = response_module.HTTPResponse(status, "ok", headers={"Vary": vary_before} if vary_before else None)
        shown = (f"after_request(Origin: {origin}, a {status} response"
                 f"{' with Vary: ' + vary_before if vary_before else ''})")
        response = call(cors.after_request, req, given, shown=shown)
        if not hasattr(response, "headers"):
            raise CheckFailed(f"{shown} did not return the response.", received=repr(response),
                              meaning="An after must end with `return response`.")
        expect_equal(f"Access-Control-Allow-Origin for {origin} on a {status}",
                     response.headers.get("Access-Control-Allow-Origin"), expected, sent=shown,
                     meaning=None if status < 400 else "Errors need the header too: without it the browser hides "
                     "the 401 or 404 from the page, which then cannot tell its user what went wrong.")
        vary = [token.strip().lower() for token in (response.headers.get("Vary") or "").split(",")]
        if expected and "origin" not in vary:
            raise CheckFailed("A reflected origin needs Vary: Origin.", sent=shown,
                              received=f"Vary: {response.headers.get('Vary') or '(none)'}",
                              meaning="The answer depends on who asks; a cache that does not know would give "
                              "one site's answer to another.")
        if vary_before and vary_before.lower() not in vary:
            raise CheckFailed(f"Vary: {vary_before} was lost when Vary: Origin was added.", sent=shown,
                              expected=f"Vary: {vary_before}, Origin (or the two as separate Vary lines)",
                              received=f"Vary: {response.headers.get('Vary') or '(none)'}",
                              meaning="Vary lists every request header the answer depends on (RFC 9110, section "
                              "12.5.5). Add Origin to it with response.headers.add(\"Vary\", \"Origin\"): "
                              "setting the header replaces what was there, and a cache would then mix up "
                              "answers that differ by the other header.")


@pytest.mark.task(3)
@pytest.mark.hint("A preflight is OPTIONS with both Origin and Access-Control-Request-Method: answer it with "
                  "self.methods, self.headers and self.max_age. Any other OPTIONS goes on to the handler.",
                  docs="#simple-requests-and-preflights")
def test_a_preflight_is_answered_from_the_settings(learner_module):
    """A preflight is answered with the middleware's own methods, headers and max age; other OPTIONS go on"""
    middleware_module, response_module = learner_module("middleware"), learner_module("response")
    parse_request = learner_module("request").parse_request
    cors = middleware_module.CORSMiddleware(origins=["https://a.example"], methods=("GET", "PUT"),
                                            headers=("X-Trace", "Content-Type"), max_age=42)
    shown_cors = ('CORSMiddleware(origins=["https://a.example"], methods=("GET", "PUT"), '
                  'headers=("X-Trace", "Content-Type"), max_age=42)')

    def through(head):
        calls = []

        def handler(request):
            calls.append("handler")
            return response_module.HTTPResponse(200, "the handler's answer")

        req, _ = parse_request(f"OPTIONS /api/things HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())
        sent = f"OPTIONS /api/things HTTP/1.1\r\n{head}"
        response = call(middleware_module.Pipeline(handler, [cors]), req,
                        shown=f"Pipeline(handler, [{shown_cors}])(OPTIONS /api/things)")
        return sent, response, calls

    sent, response, calls = through("Origin: https://a.example\r\nAccess-Control-Request-Method: PUT\r\n"
                                    "Access-Control-Request-Headers: x-trace\r\n")
    headers = getattr(response, "headers", None)
    got = {name: headers.get(name) if headers is not None else None for name in (
        "Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
        "Access-Control-Max-Age")}

    def items(value):
        return sorted(item.strip().lower() for item in (value or "").split(",") if item.strip())

    methods, allowed_headers = items(got["Access-Control-Allow-Methods"]), items(got["Access-Control-Allow-Headers"])
    right = (seen(response) == 204 and not calls and got["Access-Control-Allow-Origin"] == "https://a.example"
             and "put" in methods and set(methods) <= {"get", "put"}  # the method asked about, of those allowed
             and "x-trace" in allowed_headers and set(allowed_headers) <= {"x-trace", "content-type"}
             and (got["Access-Control-Max-Age"] or "").strip() == "42")
    if not right:
        raise CheckFailed("The preflight was not answered with this middleware's own settings.",
                          sent=f"{shown_cors}\n{sent}",
                          expected="204, the handler not called, and\nAccess-Control-Allow-Origin: https://a.example"
                          "\nAccess-Control-Allow-Methods: GET, PUT\nAccess-Control-Allow-Headers: X-Trace, "
                          "Content-Type\nAccess-Control-Max-Age: 42",
                          received=f"{seen(response)}{', the handler was called' if calls else ''}\n"
                          + "\n".join(f"{name}: {value}" for name, value in got.items()),
                          meaning="Each CORSMiddleware says what it allows in its constructor: join self.methods "
                          "and self.headers with \", \", and send self.max_age; the Allow-Origin comes from "
                          "after_request, which runs for the 204 too.")
    sent, response, calls = through("Origin: https://a.example\r\nAccess-Control-Request-Method: PUT\r\n")
    methods = items(getattr(getattr(response, "headers", None), "get", lambda name: None)("Access-Control-Allow-Methods"))
    if seen(response) != 204 or calls or "put" not in methods:
        raise CheckFailed("A preflight with no Access-Control-Request-Headers was not answered as a preflight.",
                          sent=sent, expected="204 with Access-Control-Allow-Methods: GET, PUT; the handler not called",
                          received=f"{seen(response)}{', the handler was called' if calls else ''}, "
                          f"Access-Control-Allow-Methods: {', '.join(methods) or '(none)'}",
                          meaning="A browser asks Access-Control-Request-Headers only when the request has headers "
                          "of its own: fetch(url, {method: \"PUT\"}) sends a preflight without it. Origin and "
                          "Access-Control-Request-Method make a preflight.")
    for head, why in (("", "a plain OPTIONS, with no Origin"),
                      ("Origin: https://a.example\r\n", "an OPTIONS with Origin but no Access-Control-Request-Method"),
                      ("Access-Control-Request-Method: PUT\r\n", "an OPTIONS with no Origin")):
        sent, response, calls = through(head)
        if calls != ["handler"]:
            raise CheckFailed(f"The CORS middleware answered {why}, instead of letting it go on.", sent=sent,
                              expected="the handler to answer (the router says which methods the path allows)",
                              received=f"a {seen(response)} from the CORS middleware; the handler was not called",
                              meaning="Only OPTIONS with both Origin and Access-Control-Request-Method is a "
                              "preflight. Any other OPTIONS asks the server itself what it allows, and the "
                              "router answers it with Allow.")
    sent, response, calls = through("Origin: https://b.example\r\nAccess-Control-Request-Method: PUT\r\n")
    allowed = getattr(getattr(response, "headers", None), "get", lambda name: None)("Access-Control-Allow-Origin")
    if calls != ["handler"]:
        raise CheckFailed("A preflight from an origin that is not allowed was answered by the CORS middleware.",
                          sent=sent, expected="the handler to answer, with no Access-Control-Allow-* fields",
                          received=f"a {seen(response)} from the CORS middleware; the handler was not called",
                          meaning="A preflight from an origin not in the list is no preflight of ours: let it go on "
                          "to the router, and tell that origin nothing about the methods and headers allowed.")
    if allowed is not None:
        raise CheckFailed("A preflight from an origin that is not allowed was allowed.", sent=sent,
                          expected="no Access-Control-Allow-Origin (https://b.example is not in the list)",
                          received=f"{seen(response)} with Access-Control-Allow-Origin: {allowed}",
                          meaning="Only an allowed origin gets a yes; the browser then refuses to send the real "
                          "request.")


@pytest.mark.task(5, needs=(1, 4))
@pytest.mark.hint("AuthMiddleware's own checks grade its code; this one grades the finished site: create_app "
                  "puts AuthMiddleware(token, protect=PRIVATE) in the Pipeline, last.",
                  docs="#the-finished-site")
def test_the_private_api_needs_the_token(site):
    """Without the right Bearer token the private API, and any path under it, answers 401; with it, 200"""
    for header, why in ((None, "no Authorization header"), ("Authorization: Token test-token", "another scheme, even with the right token"),
                        ("Authorization: Bearer wrong-token", "the wrong token"),
                        ("Authorization: Bearer test-token-and-more", "a longer token")):
        result = exchange(site, request("GET", "/api/private", *([header] if header else [])))
        response = expect_response(result, 401, what=f"401 Unauthorized, because of {why}")
        if not (response.header("www-authenticate") or "").startswith("Bearer"):
            raise result.fail("The 401 has no WWW-Authenticate: Bearer header.",
                              "WWW-Authenticate: Bearer realm=...",
                              meaning="RFC 9110 (section 11.6.1): a 401 must say how to authenticate.")
    result = exchange(site, request("GET", "/api/private", f"Authorization: Bearer {TOKEN}"))
    response = expect_response(result, 200)
    expect_equal("the private API's answer", json.loads(response.body).get("you are"), "127.0.0.1", sent=result.sent)
    for target, what, why, meaning in (
        # Inside the private prefix, a path with no route is refused too: whether it exists is private as well.
        ("/api/private/not-yet-written", "A path under /api/private/",
         "everything under /api/private/ needs the token, routes to come included",
         "Protect the prefix, not a list of routes: a route added there later is private from the start, "
         "and nobody learns which private paths exist."),
        ("/api/private?format=json", "/api/private with a query string", "the query string is no part of the path",
         "Match request.path, not request.target: with the target, anyone could add ?x to a private URL and "
         "walk past the token check."),
    ):
        result = exchange(site, get_request(target))
        if result.response().status != 401:
            raise result.fail(f"{what} was answered without a token.", f"401: {why}", meaning=meaning)


@pytest.mark.task(5, needs=(1, 4))
@pytest.mark.hint("create_app protects the private API only (protect=PRIVATE), so every other path routes as "
                  "usual; before_request asks is_exempt(request.path): the path, without the query string.",
                  docs="#the-finished-site")
def test_public_pages_need_no_token(site):
    """Pages outside the private API need no token, and a path that does not exist gets 404, not 401

    Each page is asked for twice: as it is, and with a query string, which is no part of the path.
    """
    for path in ("/", "/about", "/user/ada", "/api/data", "/static/style.css",
                 "/?from=home", "/about?lang=en", "/user/ada?tab=posts", "/api/data?pretty=1", "/static/app.js?v=2"):
        result = exchange(site, get_request(path))
        response = result.response()
        if response.status == 401 and "?" in path:
            raise result.fail(f"{path} asked for a token, but {path.partition('?')[0]} is public.",
                              f"200 for {path}, without a token",
                              meaning="The exempt paths are paths: match request.path, which has no query "
                              "string, not request.target, which has it.")
        expect_response(result, 200, what=f"200 for {path}, without a token")
    for path in ("/nonexistent", "/api/datum", "/about/more", "/api/private-other", "/api/privatex"):
        result = exchange(site, get_request(path))
        if result.response().status == 401:
            raise result.fail(f"{path} does not exist, and got 401 Unauthorized.",
                              "404 Not Found: a path that does not exist is not private",
                              meaning="A token would not make this page exist: a typo must say Not Found. Protect "
                              "the private API's prefix, and let every other path reach the router.")
        expect_response(result, 404, what=f"404 for {path}, which does not exist")


@pytest.mark.task(5, needs=(1, 2, 3, 4))
@pytest.mark.hint("The tutorial's suite wants MyHTTPServer on the home page, a \"message\" in /api/data's JSON, "
                  "and 404 for a path that does not exist: keep the demo site's pages as they are.",
                  docs="#the-finished-site")
def test_the_original_tutorials_own_tests_pass(site):
    """The original tutorial's own test suite passes against the finished site

    Its six tests, as written, with one change: Content-Type is compared by media type, since
    "text/html; charset=utf-8" is right where the tutorial wrote "text/html".
    """
    import requests

    base = f"http://127.0.0.1:{site.port}"

    def get(path):
        try:
            return requests.get(base + path, timeout=5)
        except requests.RequestException as problem:
            raise CheckFailed(f"requests could not GET {path}: {problem}") from None

    def media_type(response):
        return (response.headers.get("content-type") or "").split(";")[0].strip()

    tests = [
        ("/", 200, lambda r: "MyHTTPServer" in r.text, "the home page mentions MyHTTPServer"),
        ("/about", 200, lambda r: True, "the about page is there"),
        ("/user/testuser", 200, lambda r: "testuser" in r.text, "the user page shows testuser"),
        ("/static/demo.html", 200, lambda r: media_type(r) == "text/html", "demo.html is text/html"),
        ("/api/data", 200, lambda r: media_type(r) == "application/json" and "message" in r.json(),
         "/api/data is JSON with a \"message\""),
        ("/nonexistent", 404, lambda r: True, "a path that does not exist gets 404"),
    ]
    for path, status, holds, what in tests:
        response = get(path)
        try:
            ok = response.status_code == status and holds(response)
        except ValueError:  # not JSON
            ok = False
        if not ok:
            raise CheckFailed(f"The tutorial's test fails: {what}.", sent=f"GET {path} (with requests)",
                              expected=f"{status}, and {what}",
                              received=f"{response.status_code} {response.reason}, Content-Type: "
                              f"{response.headers.get('content-type')}, body: {response.text[:200]!r}")


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attributes):
        for name, value in attributes:
            if name in ("href", "src") and value and value.startswith("/"):
                self.found.append((tag, value))


@pytest.mark.task(5, needs=(1, 2, 3, 4))
@pytest.mark.hint("create_app must return the router wrapped in a Pipeline of logging, CORS and auth, in "
                  "that order, and the home page must reach its CSS, script and links.", docs="#the-finished-site")
def test_every_link_of_the_demo_site_works(site):
    """Every link, style sheet, script and image on the home page is served through the middleware, with its type"""
    home = expect_response(exchange(site, get_request("/")), 200)
    parser = Links()
    parser.feed(home.body.decode("utf-8"))
    kinds = {tag for tag, _ in parser.found}
    if not {"link", "script", "a", "img"} <= kinds:
        raise CheckFailed("The home page lacks a style sheet, a script, an image or links.",
                          expected="<link href=...css>, <script src=...js>, <img src=...png> and <a href=...> links",
                          received=f"found: {sorted(kinds)}")
    types = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}
    for tag, target in ["home", "/"], *parser.found:
        result = exchange(site, request("GET", target, "Origin: https://elsewhere.example"))
        response = expect_response(result, 200, what=f"200 for {target}, linked from the home page ({tag})")
        if response.header("access-control-allow-origin") is None:
            raise result.fail(f"{target} did not pass through the middleware: it has no CORS header.",
                              "every answer of the site to go through the Pipeline of middlewares",
                              meaning="create_app must return the router wrapped in its Pipeline.")
        for suffix, expected in types.items():
            if target.endswith(suffix) and not (response.header("content-type") or "").startswith(expected):
                raise result.fail(f"{target} has the wrong type.", expected)


@pytest.mark.task(5, needs=(1, 2))
@pytest.mark.hint("Logging goes first in the list, so that it is the outermost layer: its after then runs for "
                  "every answer, the 401s of authentication and the 204s of preflights included.",
                  docs="#the-finished-site")
def test_every_request_to_the_site_is_logged(learner_module, step, catch_logs, access_line):
    """Every request to the site is logged with the status it got, refusals and preflights included"""
    app = call(learner_module("app").create_app, token=TOKEN, static_root=str(step.folder / "static"),
               shown=f'create_app(token="{TOKEN}")')
    parse_request = learner_module("request").parse_request
    origin = "Origin: https://elsewhere.example"
    cases = [  # method, target, version, headers, body: a 401, a preflight's 204, a 401, 200, 200 (a file), 404, 200
        ("GET", "/api/private", "HTTP/1.1", [], b""),
        ("OPTIONS", "/api/private", "HTTP/1.1", [origin, "Access-Control-Request-Method: GET",
                                                 "Access-Control-Request-Headers: Authorization"], b""),
        ("GET", "/nowhere", "HTTP/1.0", ["Authorization: Bearer wrong"], b""),
        ("GET", "/about?lang=en", "HTTP/1.1", [origin], b""),
        ("GET", "/static/style.css", "HTTP/1.1", [], b""),
        ("GET", "/static/missing.css", "HTTP/1.1", [], b""),
        ("POST", "/api/echo", "HTTP/1.1", [f"Authorization: Bearer {TOKEN}"], b"hello, server"),
    ]
    for method, target, version, headers, body in cases:
        head = f"{method} {target} {version}\r\nHost: 127.0.0.1\r\n" + "".join(f"{h}\r\n" for h in headers)
        if body:
            head += f"Content-Length: {len(body)}\r\n"
        sent = head.encode() + b"\r\n" + body
        req, _ = parse_request(sent)
        req.client = "192.0.2.44"
        request_line = f"{method} {target} {version}"
        with catch_logs() as records:
            response = call(app, req, shown=f"create_app(...)({request_line})")
        streamed = getattr(response, "chunks", None) is not None
        if streamed:
            b"".join(response.chunks)  # as the server would send it (this also closes the file)
        lines = records.about(request_line)
        fields = access_line(lines[0]) if len(lines) == 1 else None
        # What the line must say is what the response is; whether that is the right answer, other checks say.
        want_size = getattr(response, "length", None) if streamed else len(getattr(response, "body", b"") or b"")
        if fields is None or fields["status"] != seen(response) or fields["size"] != want_size:
            raise CheckFailed(
                f"{request_line} got {seen(response)}, and the access log did not say so in one line."
                if len(lines) != 1 else f"The access-log line for {request_line} does not match its answer.",
                sent=sent,
                expected=f'one line: 192.0.2.44 - - [...] "{request_line}" {seen(response)} {want_size} 0.000s',
                received="\n".join(records.lines()) or "(no access-log line)",
                meaning="The access log is where an operator looks first, and refusals are what they look "
                "for. Logging must be the first middleware of the list, the outermost layer: a layer outside "
                "it that answers (CORS's preflight, authentication's 401) is never seen by its after.",
            )
