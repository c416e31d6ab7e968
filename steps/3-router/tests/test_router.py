"""Step 3 — router: checks of the router, called directly.

These checks call compile_pattern, the Router and to_response in router.py
without any network. The checks over real connections are in test_server.py.
"""

import json
from http import HTTPStatus

import pytest

from checks.report import CheckFailed
from checks.unit import call, expect_equal, short


@pytest.fixture
def router_module(learner_module):
    return learner_module("router")


def matches(regex, path):
    """The parameters ``regex`` captures from ``path``, or None if it does not match."""
    found = regex.match(path)
    return None if found is None else found.groupdict()


def expect_matches(router_module, pattern, cases, meaning=None):
    regex = call(router_module.compile_pattern, pattern)
    for path, expected in cases:
        got = matches(regex, path)
        if got != expected:
            raise CheckFailed(
                f"compile_pattern({pattern!r}) made {regex.pattern!r}, which gets {path!r} wrong.",
                expected="no match" if expected is None else f"a match with parameters {expected}",
                received="no match" if got is None else f"a match with parameters {got}",
                meaning=meaning,
            )


@pytest.mark.task(1)
@pytest.mark.hint(
    "Anchor the regex at both ends (^ and $) and let {name} match [^/]+ : one or more characters "
    "that are not a slash.",
    docs="#from-pattern-to-regex",
)
def test_a_parameter_matches_exactly_one_segment(router_module):
    """{name} matches one whole path segment, and the pattern must match the whole path"""
    expect_matches(router_module, "/user/{name}", [
        ("/user/ada", {"name": "ada"}),
        ("/user/J%C3%BCrgen", {"name": "J%C3%BCrgen"}),
        ("/user/ada/photos", None),
        ("/user/", None),
        ("/user", None),
        ("/users/ada", None),
        ("/api/user/ada", None),
    ], meaning="Without ^ and $ a pattern matches inside longer paths; with .* a parameter swallows slashes.")
    expect_matches(router_module, "/user/{name}/posts/{post}", [
        ("/user/ada/posts/7", {"name": "ada", "post": "7"}),
        ("/user/ada/posts/7/comments", None),
    ])


@pytest.mark.task(1)
@pytest.mark.hint("re.escape every literal part of the pattern: in a regex, . means any character.",
                  docs="#from-pattern-to-regex")
def test_literal_characters_are_literal(router_module):
    """Literal parts match only themselves: a dot is a dot, a plus is a plus"""
    expect_matches(router_module, "/file.txt", [("/file.txt", {}), ("/fileXtxt", None)],
                   meaning="re.escape the literal parts: in a regex, . matches any character.")
    expect_matches(router_module, "/a+b/{x}", [("/a+b/1", {"x": "1"}), ("/aab/1", None)])


@pytest.mark.task(1)
@pytest.mark.hint("{name:path} becomes a group that may contain slashes: (?P<name>.+).", docs="#the-catch-all")
def test_a_path_parameter_matches_the_rest(router_module):
    """{name:path} matches the rest of the path, slashes included"""
    expect_matches(router_module, "/files/{rest:path}", [
        ("/files/site.css", {"rest": "site.css"}),
        ("/files/css/deep/site.css", {"rest": "css/deep/site.css"}),
        ("/files/", None),
        ("/other/site.css", None),
    ], meaning="The tutorial's {path:.*} never matched: its {(\\w+)} pattern does not allow the colon.")


@pytest.mark.task(1)
@pytest.mark.hint("Check each name as you go: name.isidentifier(), and keep a set of the names seen.",
                  docs="#from-pattern-to-regex")
def test_bad_patterns_are_refused_with_a_clear_error(router_module):
    """A pattern with a repeated or invalid parameter name is refused with ValueError"""
    for pattern, word in [("/{a}/{a}", "a"), ("/{1st}", "1st"), ("/{x:number}", "number")]:
        try:
            call(router_module.compile_pattern, pattern, expected_errors=(ValueError,))
        except ValueError as refusal:
            if word not in str(refusal):
                raise CheckFailed(f"compile_pattern({pattern!r}) refused, but the message does not say why.",
                                  expected=f"a ValueError whose message names {word!r}",
                                  received=f"ValueError: {refusal}") from None
            continue
        raise CheckFailed(f"compile_pattern({pattern!r}) should raise ValueError.",
                          expected=f"ValueError naming {word!r}", received="it returned a regex",
                          meaning="A mistake in a route should stop the program when the route is added, "
                          "not surprise a user later.")


@pytest.mark.task(2)
@pytest.mark.hint("route() returns a function; that function calls add_route and returns the handler itself.",
                  docs="#decorators")
def test_decorators_register_and_return_the_handler(router_module):
    """The decorators register the handler and give it back unchanged"""
    router = router_module.Router()

    def handler(request):
        return "hi"

    given_back = call(router.route("/both", methods=["GET", "POST"]), handler, shown='router.route("/both", ...)(handler)')
    if given_back is not handler:
        raise CheckFailed("router.route(...)(handler) did not return the handler itself.",
                          expected="the same function", received=short(given_back),
                          meaning="A decorator's result replaces the function: return None and the name "
                          "`handler` becomes None.")
    call(router.post("/only-post"), handler, shown='router.post("/only-post")(handler)')
    registered = [(route.pattern, set(route.methods)) for route in router.routes]
    expect_equal("router.routes (pattern, methods)", registered,
                 [("/both", {"GET", "POST"}), ("/only-post", {"POST"})])


@pytest.mark.task(3)
@pytest.mark.hint(
    "Try every route in order. Collect the methods of every route whose regex matches the path; "
    "the first route that also has the method wins. No route matched: None.",
    docs="#matching-a-request",
)
def test_match_has_three_outcomes(router_module):
    """match() finds the first route for path and method, or only the allowed methods, or nothing"""
    router = router_module.Router()
    router.add_route("/user/{name}", lambda request: "first", ["GET"])
    router.add_route("/user/{name}", lambda request: "second", ["GET", "PUT"])
    router.add_route("/user/admin", lambda request: "admin", ["GET"])

    full = call(router.match, "GET", "/user/admin")
    if full is None or full.route is None or full.route.handler(None) != "first":
        raise CheckFailed('match("GET", "/user/admin") did not pick the first matching route.',
                          expected="the first route added that matches (registration order wins)",
                          received=short(full, 200))
    expect_equal('match("GET", "/user/J%C3%BCrgen").params', call(router.match, "GET", "/user/J%C3%BCrgen").params,
                 {"name": "Jürgen"}, meaning="Parameters are percent-decoded after matching: urllib.parse.unquote.")
    wrong_method = call(router.match, "DELETE", "/user/ada")
    if wrong_method is None or wrong_method.route is not None:
        raise CheckFailed('match("DELETE", "/user/ada") should find the path but no route.',
                          expected="a Match with route None and the allowed methods", received=short(wrong_method, 200),
                          meaning="A known path with a wrong method is 405, not 404: the caller needs to tell them apart.")
    if not {"GET", "PUT"} <= set(wrong_method.allowed):
        raise CheckFailed("The allowed methods are incomplete.", expected="GET and PUT (and HEAD, OPTIONS)",
                          received=short(wrong_method.allowed))
    nothing = call(router.match, "GET", "/nowhere")
    expect_equal('match("GET", "/nowhere")', nothing, None)


@pytest.mark.task(5)
@pytest.mark.hint("isinstance() each case: HTTPResponse as is, str/bytes → HTTPResponse(200, value), "
                  "dict/list → json.dumps with application/json; anything else → TypeError.",
                  docs="#what-a-handler-returns")
def test_return_values_become_responses(router_module, learner_module):
    """A handler may return a response, text, bytes, a dict or a list; anything else is a TypeError"""
    HTTPResponse = learner_module("response").HTTPResponse
    made = HTTPResponse(HTTPStatus.CREATED, "made")
    if call(router_module.to_response, made) is not made:
        raise CheckFailed("to_response(an HTTPResponse) should return that same response.")
    for value, content_type, body in [
        ("<p>hi</p>", "text/html; charset=utf-8", b"<p>hi</p>"),
        (b"\x00\x01", "text/html; charset=utf-8", b"\x00\x01"),
    ]:
        response = call(router_module.to_response, value)
        expect_equal(f"to_response({value!r}): status, Content-Type, body",
                     (response.status, response.headers.get("Content-Type"), response.body), (200, content_type, body))
    for value in ({"a": [1, 2]}, [1, "two"]):
        response = call(router_module.to_response, value)
        try:
            decoded = json.loads(response.body)
        except ValueError:
            decoded = None
        expect_equal(f"to_response({value!r}): status, Content-Type, decoded body",
                     (response.status, response.headers.get("Content-Type"), decoded), (200, "application/json", value),
                     meaning="A dict or list is sent as JSON: json.dumps, with Content-Type: application/json.")
    try:
        call(router_module.to_response, 42, expected_errors=(TypeError,))
    except TypeError:
        return
    raise CheckFailed("to_response(42) should raise TypeError.", meaning="A handler returning a number is a bug: "
                      "say so loudly rather than send something odd.")
