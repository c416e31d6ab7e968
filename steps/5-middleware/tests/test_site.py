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


@pytest.fixture
def site(start_server, step):
    return start_server({"app": {"token": TOKEN, "static_root": str(step.folder / "static")}})


def request(method, path, *headers):
    lines = "".join(f"{header}\r\n" for header in headers)
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode()


@pytest.mark.task(3)
@pytest.mark.hint("In after_request, when the request has an Origin the server allows, set "
                  "Access-Control-Allow-Origin.", docs="#cors")
def test_a_cross_origin_request_is_allowed(site):
    """A request from another origin gets Access-Control-Allow-Origin, on errors too"""
    for path, status in (("/api/data", 200), ("/static/missing.css", 404)):
        result = exchange(site, request("GET", path, "Origin: https://elsewhere.example"))
        response = expect_response(result, status)
        expect_equal(f"Access-Control-Allow-Origin on {path}", response.header("access-control-allow-origin"), "*",
                     sent=result.sent, meaning="Without it, the browser hides the response from the other page.")


@pytest.mark.task(3)
@pytest.mark.hint("A preflight is OPTIONS with Origin and Access-Control-Request-Method: answer 204 at once, "
                  "with Access-Control-Allow-Methods and -Headers.", docs="#cors")
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
                  "Vary: Origin; an origin not listed gets no CORS header at all.", docs="#cors")
def test_listed_origins_are_reflected_with_vary(learner_module):
    """With a list of origins, a listed one is named back with Vary: Origin, others get nothing"""
    middleware_module, response_module = learner_module("middleware"), learner_module("response")
    parse_request = learner_module("request").parse_request
    cors = middleware_module.CORSMiddleware(origins=["https://a.example"])
    for origin, expected in (("https://a.example", "https://a.example"), ("https://b.example", None)):
        req, _ = parse_request(f"GET / HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n\r\n".encode())
        response = call(cors.after_request, req, response_module.HTTPResponse(200, "ok"),
                        shown=f"after_request(Origin: {origin})")
        expect_equal(f"Access-Control-Allow-Origin for {origin}", response.headers.get("Access-Control-Allow-Origin"),
                     expected)
        if expected and "origin" not in (response.headers.get("Vary") or "").lower():
            raise CheckFailed("A reflected origin needs Vary: Origin.",
                              meaning="The answer depends on who asks; a cache that does not know would give "
                              "one site's answer to another.")


@pytest.mark.task(4)
@pytest.mark.hint("No Authorization, another scheme, or another token: 401 with WWW-Authenticate: Bearer. "
                  "Only 'Bearer <the token>' goes through.", docs="#authentication")
def test_the_private_api_needs_the_token(site):
    """Without the right Bearer token the private API answers 401 with WWW-Authenticate; with it, 200"""
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


@pytest.mark.task(4)
@pytest.mark.hint("An exempt entry ending in * covers everything under it; any other entry, that one path only. "
                  "'/' is the home page, not the whole site.", docs="#authentication")
def test_public_pages_need_no_token(site):
    """The home page, the about page, user pages, /api/data and static files need no token"""
    for path in ("/", "/about", "/user/ada", "/api/data", "/static/style.css"):
        expect_response(exchange(site, get_request(path)), 200, what=f"200 for {path}, without a token")


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attributes):
        for name, value in attributes:
            if name in ("href", "src") and value and value.startswith("/"):
                self.found.append((tag, value))


@pytest.mark.task(5)
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
