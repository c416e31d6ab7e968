"""Step 3 — router: checks over real connections, against the demo app in app.py.

Every response is read by h11 and must carry the right status line, a Date and
Connection: close. Where it matters, the exact bytes are counted.
"""

import pytest

from checks.expect import expect_response
from checks.unit import expect_equal
from checks.wire import exchange, get_request


def request(method, path):
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


@pytest.mark.task(4)
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


@pytest.mark.task(1)
@pytest.mark.hint("A one-segment parameter stops at a slash, and the whole path must match.",
                  docs="#from-pattern-to-regex")
def test_extra_or_missing_segments_do_not_match(server):
    """A path with an extra segment, a trailing slash or a missing part gets 404"""
    for path in ("/user/ada/extra", "/user/", "/about/", "/xabout", "/about.html"):
        expect_response(exchange(server, get_request(path)), 404,
                        what=f"404 Not Found: {path} matches none of the demo app's patterns")


@pytest.mark.task(4)
@pytest.mark.hint("No route knows the path: 404. Some route knows it, none for this method: 405, with "
                  "Allow listing the methods that are allowed.", docs="#dispatching")
def test_unknown_path_gets_404_and_wrong_method_405_with_allow(server):
    """An unknown path gets 404; a known path with the wrong method gets 405 with an Allow header"""
    expect_response(exchange(server, get_request("/no/such/page")), 404)
    result = exchange(server, request("DELETE", "/about"))
    response = expect_response(result, 405, what="405 Method Not Allowed, with Allow: GET, HEAD, OPTIONS")
    allowed = {method.strip() for method in (response.header("allow") or "").split(",") if method.strip()}
    if not {"GET", "HEAD"} <= allowed or "DELETE" in allowed:
        raise result.fail("The Allow header does not list the methods /about allows.",
                          "Allow: GET, HEAD, OPTIONS (RFC 9110, section 15.5.6: a 405 must say what is allowed)")


@pytest.mark.task(4)
@pytest.mark.hint("Match a HEAD request as if it were GET and run the GET handler; the server then sends "
                  "the head alone, Content-Length included.", docs="#head-and-options")
def test_head_has_the_headers_of_get_and_no_body(server):
    """HEAD gets the same headers as GET, Content-Length included, and not one byte of body"""
    get = expect_response(exchange(server, get_request("/about")), 200)
    result = exchange(server, request("HEAD", "/about"))
    head = expect_response(result, 200)
    after_head = len(result.received) - len(head.raw_head)
    if after_head:
        raise result.fail(f"{after_head} bytes of body came after the head of a HEAD response.",
                          "the head alone: a HEAD response never has a body")
    expect_equal("Content-Length of HEAD /about", head.header("content-length"), get.header("content-length"),
                 sent=result.sent, meaning="HEAD says how long the GET body would be.")
    expect_equal("Content-Type of HEAD /about", head.header("content-type"), get.header("content-type"))
    missing = exchange(server, request("HEAD", "/nowhere"))
    expect_response(missing, 404)
    if len(missing.received) > len(missing.response().raw_head):
        raise missing.fail("The 404 answer to a HEAD request carries a body.", "the head alone")


@pytest.mark.task(4)
@pytest.mark.hint("OPTIONS on a known path: 204 No Content with Allow. On an unknown path: 404.",
                  docs="#head-and-options")
def test_options_lists_the_allowed_methods(server):
    """OPTIONS on a known path gets 204 with Allow; on an unknown path, 404"""
    result = exchange(server, request("OPTIONS", "/echo"))
    response = expect_response(result, 204)
    allowed = {method.strip() for method in (response.header("allow") or "").split(",")}
    if "POST" not in allowed:
        raise result.fail("The Allow header of OPTIONS /echo does not list POST.", "Allow: OPTIONS, POST")
    expect_response(exchange(server, request("OPTIONS", "/nowhere")), 404)


@pytest.mark.task(5)
@pytest.mark.hint("A dict becomes JSON with Content-Type: application/json.", docs="#what-a-handler-returns")
def test_a_dict_is_sent_as_json(server):
    """A handler that returns a dict is answered with JSON and the application/json type"""
    result = exchange(server, get_request("/api/info"))
    response = expect_response(result, 200)
    expect_equal("the Content-Type of /api/info", response.header("content-type"), "application/json",
                 sent=result.sent)


@pytest.mark.task(6)
@pytest.mark.hint("html.escape the name before it goes into the page.", docs="#never-trust-a-path-parameter")
def test_user_page_escapes_the_name(server):
    """/user/{username} shows the name, with HTML in it escaped"""
    result = exchange(server, get_request("/user/%3Cscript%3Ealert(1)%3C%2Fscript%3E"))
    response = expect_response(result, 200)
    if b"<script>" in response.body or b"&lt;script&gt;" not in response.body:
        raise result.fail("The user page puts the name into the HTML without escaping it.",
                          "&lt;script&gt;alert(1)&lt;/script&gt; in the page, shown as text",
                          meaning="Anyone could send a link whose 'name' is a script that runs in the "
                          "visitor's browser (cross-site scripting).")
