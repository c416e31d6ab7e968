"""Step 3 — router: checks over real connections, against the demo app in app.py.

Every response is read by h11 and must carry the right status line, a Date and
Connection: close. Where it matters, the exact bytes are counted.
"""

import json
from http import HTTPStatus

import pytest

from checks.expect import expect_response
from checks.unit import expect_equal
from checks.wire import exchange, get_request


def request(method, path):
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def allow_list(response):
    """The methods of the response's Allow header, in order: ``"GET, HEAD"`` -> ``["GET", "HEAD"]``."""
    return [method.strip() for method in (response.header("allow") or "").split(",") if method.strip()]


def expect_allow(result, response, methods, path):
    """Allow must list exactly ``methods``, each once, sorted (any spacing around the commas)."""
    if allow_list(response) != sorted(methods):
        raise result.fail(
            f"The Allow header does not list the methods {path} allows, each once, sorted.",
            f"Allow: {', '.join(sorted(methods))}",
            meaning="RFC 9110, section 10.2.1: Allow lists the methods the resource supports. Here that is every "
            "method of every route matching the path, plus HEAD (only where GET is) and OPTIONS; sorted, so that "
            "the same path always gets the same header.",
        )


@pytest.mark.task(4, needs=(1, 2, 3, 5))
@pytest.mark.hint("Set request.path_params from the match before calling the handler.", docs="#dispatching")
def test_routes_reach_their_handlers_with_parameters(server):
    """Each route reaches its handler, with its parameters decoded"""
    result = exchange(server, get_request("/echo/hello%20w%C3%B6rld"))
    response = expect_response(result, 200)
    expect_equal("the body of /echo/hello%20w%C3%B6rld", response.body, "hello wörld".encode(), sent=result.sent,
                 meaning="The {text} parameter arrives percent-decoded.")
    result = exchange(server, get_request("/files/css/site.css"))
    response = expect_response(result, 200)
    expect_equal("the body of /files/css/site.css", response.body, b'{"you asked for": "css/site.css"}',
                 sent=result.sent)
    for path in ("/", "/about"):
        expect_response(exchange(server, get_request(path)), 200)


@pytest.mark.task(4, needs=(1, 2, 3, 5))
@pytest.mark.hint("Match request.raw_path: the path exactly as it was sent, still encoded, without the query. "
                  "Not request.path (decoded already) nor request.target (the query is still on it).",
                  docs="#match-the-raw-path-decode-afterwards")
def test_the_raw_path_is_matched_then_each_parameter_decoded_once(server):
    """The raw path is matched, without its query, then each parameter is decoded once: /echo/a%2Fb echoes a/b"""
    for path, text, why in [
        ("/echo/a%2Fb", "a/b", "%2F is a slash inside the data: /echo/a%2Fb is two segments, so /echo/{text} "
                               "matches, and then the text decodes to a/b. Decoded first, it is three segments: 404."),
        ("/echo/100%2541", "100%41", "%25 is a percent sign: decoded once, 100%2541 is 100%41. Matching the "
                                     "decoded path and then decoding the parameter again makes it 100A."),
        ("/echo/a+b", "a+b", "In a path, + is a plus sign: unquote() leaves it alone (unquote_plus is for forms)."),
        ("/echo/hi?to=%2F", "hi", "The query is not part of the path: match request.raw_path, not request.target."),
    ]:
        result = exchange(server, get_request(path))
        response = result.response(f"200 OK with the body {text}")
        if response.status != HTTPStatus.OK or response.body != text.encode():
            raise result.fail(f"GET {path} did not echo {text}.", f"200 OK with the body {text}", meaning=why)
        expect_response(result, 200)
    result = exchange(server, get_request("/files/a%2Fb/c%20d?x=1"))
    response = result.response()
    try:
        answer = json.loads(response.body)
    except ValueError:
        answer = None
    if response.status != HTTPStatus.OK or answer != {"you asked for": "a/b/c d"}:
        raise result.fail("The catch-all did not get the rest of the raw path, decoded once.",
                          '200 OK with {"you asked for": "a/b/c d"}',
                          meaning="Match the path as sent, without the query: /files/{path:path} takes a%2Fb/c%20d, "
                          "and only then is it decoded, to a/b/c d.")
    expect_response(result, 200)
    expect_response(exchange(server, get_request("/about?lang=en")), 200, what="200 OK: the query is not in the path")


@pytest.mark.task(4, needs=(1, 2, 3, 5))
@pytest.mark.hint("A pattern matches the whole raw path or nothing: a parameter stops at a slash, and neither the "
                  "router nor the regex may strip a trailing slash or ignore case.", docs="#from-pattern-to-regex")
def test_extra_or_missing_segments_do_not_match(server):
    """A path with an extra segment, a trailing slash or a missing part gets 404"""
    for path in ("/user/ada/extra", "/user/", "/about/", "/xabout", "/about.html", "/files/", "/echo/",
                 "/user//ada", "/ABOUT"):
        expect_response(exchange(server, get_request(path)), 404,
                        what=f"404 Not Found: {path} matches none of the demo app's patterns (paths are case-sensitive)")


@pytest.mark.task(4, needs=(1, 2, 3, 5))
@pytest.mark.hint("No route knows the path: 404. Some route knows it, none for this method: 405, with "
                  "Allow listing the methods that are allowed, sorted.", docs="#404-and-405")
def test_unknown_path_gets_404_and_wrong_method_405_with_allow(server):
    """An unknown path gets 404; a known path with the wrong method gets 405 with an Allow header"""
    expect_response(exchange(server, get_request("/no/such/page")), 404)
    for method, path, methods in [("DELETE", "/about", ["GET", "HEAD", "OPTIONS"]),
                                  ("POST", "/user/ada", ["GET", "HEAD", "OPTIONS"]),
                                  ("GET", "/echo", ["OPTIONS", "POST"]),
                                  ("HEAD", "/echo", ["OPTIONS", "POST"])]:
        result = exchange(server, request(method, path))
        response = expect_response(result, 405, what=f"405 Method Not Allowed, with Allow: {', '.join(methods)}")
        expect_allow(result, response, methods, path)
    result = exchange(server, request("get", "/about"))
    response = result.response()
    if response.status not in (HTTPStatus.METHOD_NOT_ALLOWED, HTTPStatus.NOT_IMPLEMENTED):
        raise result.fail(f"The method 'get' got {response.status}.",
                          "405 Method Not Allowed, with Allow: GET, HEAD, OPTIONS (or 501 Not Implemented)",
                          meaning="RFC 9110, section 9.1: the method token is case-sensitive, so 'get' is not GET. "
                          "Compare the method as it came; add_route() already upper-cased the registered ones.")
    if response.status == HTTPStatus.METHOD_NOT_ALLOWED:
        expect_allow(result, expect_response(result, 405), ["GET", "HEAD", "OPTIONS"], "/about")


@pytest.mark.task(4, needs=(1, 2, 3, 5))
@pytest.mark.hint("Match a HEAD request as if it were GET and run the GET handler; the server then sends "
                  "the head alone, Content-Length included.", docs="#head-and-options")
def test_head_has_the_headers_of_get_and_no_body(server):
    """HEAD gets the same headers as GET, Content-Length included, and not one byte of body"""
    for path in ("/about", "/api/info"):
        get = expect_response(exchange(server, get_request(path)), 200)
        result = exchange(server, request("HEAD", path))
        head = expect_response(result, 200)  # and not one byte after the head
        expect_equal(f"Content-Length of HEAD {path}", head.header("content-length"), get.header("content-length"),
                     sent=result.sent, meaning="HEAD says how long the GET body would be (RFC 9110, section 8.6).")
        expect_equal(f"the header names of HEAD {path}", sorted(name for name, _ in head.headers),
                     sorted(name for name, _ in get.headers), sent=result.sent,
                     meaning="RFC 9110, section 9.3.2: the server SHOULD send the same header fields as for GET.")
        expect_equal(f"Content-Type of HEAD {path}", head.header("content-type"), get.header("content-type"))
    expect_response(exchange(server, request("HEAD", "/nowhere")), 404)


@pytest.mark.task(4, needs=(1, 2, 3, 5))
@pytest.mark.hint("OPTIONS on a known path: 204 No Content with Allow, sorted, and nothing else: no body and no "
                  "Content-Length. On an unknown path: 404.", docs="#head-and-options")
def test_options_lists_the_allowed_methods(server):
    """OPTIONS on a known path gets 204 with Allow, no body and no Content-Length; on an unknown path, 404"""
    for path, methods in [("/echo", ["OPTIONS", "POST"]), ("/about", ["GET", "HEAD", "OPTIONS"]),
                          ("/files/css/site.css", ["GET", "HEAD", "OPTIONS"])]:
        result = exchange(server, request("OPTIONS", path))
        response = expect_response(result, 204)  # with no Content-Length, and nothing after the head
        expect_allow(result, response, methods, path)
    expect_response(exchange(server, request("OPTIONS", "/nowhere")), 404)


@pytest.mark.task(5, needs=(1, 2, 3, 4))
@pytest.mark.hint("A dict becomes JSON with Content-Type: application/json.", docs="#what-a-handler-returns")
def test_a_dict_is_sent_as_json(server):
    """A handler that returns a dict is answered with JSON and the application/json type"""
    result = exchange(server, get_request("/api/info"))
    response = expect_response(result, 200)
    expect_equal("the Content-Type of /api/info", response.header("content-type"), "application/json",
                 sent=result.sent)


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5))
@pytest.mark.hint("html.escape the name before it goes into the page.", docs="#never-trust-a-path-parameter")
def test_user_page_escapes_the_name(server):
    """/user/{username} shows the name, with HTML in it escaped"""
    for path, shown, raw in [
        ("/user/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", b"&lt;img src=x onerror=alert(1)&gt;", b"<img"),
        ("/user/Tom%20%26%20Jerry", b"Tom &amp; Jerry", b"Tom & Jerry"),
        ("/user/a%2Fb", b"Hello, a/b!", None),
    ]:
        result = exchange(server, get_request(path))
        if result.response().status == HTTPStatus.NOT_FOUND:
            raise result.fail(f"GET {path} found no route.", "200 OK: the user page",
                              meaning="This is the router, not the escaping: /user/{username} did not match. If "
                              "the path was decoded before matching, %2F became a slash (see the raw path check).")
        response = expect_response(result, 200)
        if shown not in response.body or (raw and raw in response.body):
            raise result.fail("The user page does not show the name escaped, once.",
                              f"{shown.decode()} in the page, shown as text",
                              meaning="Anyone could send a link whose 'name' is a script that runs in the "
                              "visitor's browser (cross-site scripting). html.escape() replaces &, <, > and quotes: "
                              "escape the & too, or 'Tom &amp; Jerry' is shown wrong, and escape only once.")
