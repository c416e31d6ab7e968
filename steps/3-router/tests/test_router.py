"""Step 3 — router: checks of the router, called directly.

These checks call compile_pattern, the Router and to_response in router.py
without any network. The checks over real connections are in test_server.py.
"""

import json
import string
from http import HTTPStatus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.properties import course_settings
from checks.report import CheckFailed
from checks.unit import call, expect_equal, short


@pytest.fixture
def router_module(learner_module):
    return learner_module("router")


def matches(regex, path):
    """The parameters ``regex`` captures from ``path``, or None if it does not match."""
    found = regex.match(path)
    return None if found is None else found.groupdict()


def searches(regex, path):
    """The parameters ``regex.search`` finds anywhere in ``path``, or None: without ^, a match inside a longer path."""
    found = regex.search(path)
    return None if found is None else found.groupdict()


def shown_match(params):
    return "no match" if params is None else f"a match with parameters {params}"


UNANCHORED = ("regex.search() finds it inside a longer path: the regex needs ^ at its start as well as $ at its end, "
              "so that it says what it means however it is used.")


def expect_matches(router_module, pattern, cases, meaning=None):
    regex = call(router_module.compile_pattern, pattern)
    for path, expected in cases:
        got = matches(regex, path)
        if got == expected and expected is None:
            got = searches(regex, path)
            if got is not None:
                meaning = UNANCHORED
        if got != expected:
            raise CheckFailed(
                f"compile_pattern({pattern!r}) made {regex.pattern!r}, which gets {path!r} wrong.",
                expected=shown_match(expected),
                received=shown_match(got),
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
        ("/x/user/ada/posts/7", None),
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


# A path segment may hold any of these (RFC 3986, section 3.3: pchar), and a route's
# literal text too. Several mean something in a regex: . + * ( ) $ and more.
PCHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%"
SEGMENT_TEXT = st.text(PCHARS, min_size=1, max_size=5)


def described_match(parts, catch_all, path):
    """What the pattern made of ``parts`` should capture from ``path``: the parameters, or None.

    ``parts`` are whole segments, ``("literal", text)`` or ``("parameter", name)``;
    ``catch_all`` adds a final ``{rest:path}``. Segments make the answer unambiguous.
    """
    if not path.startswith("/"):
        return None
    segments = path[1:].split("/")
    fixed, rest = segments[:len(parts)], segments[len(parts):]
    if len(fixed) < len(parts) or bool(rest) != catch_all:
        return None
    params = {}
    for (kind, text), segment in zip(parts, fixed):
        if kind == "literal" and segment != text or kind == "parameter" and not segment:
            return None
        if kind == "parameter":
            params[text] = segment
    if catch_all:
        params["rest"] = "/".join(rest)
        if not params["rest"]:
            return None
    return params


@st.composite
def patterns_and_paths(draw):
    """A pattern of literal segments, {name}s and maybe a final {rest:path}; a path it describes; paths near it."""
    kinds = draw(st.lists(st.sampled_from(["literal", "parameter", "parameter:segment"]), min_size=1, max_size=4))
    parts, pattern_parts, path_parts = [], [], []
    for index, kind in enumerate(kinds):
        if kind == "literal":
            text = draw(SEGMENT_TEXT)
            parts.append(("literal", text))
            pattern_parts.append(text)
            path_parts.append(text)
        else:
            name = "abcd"[index]
            parts.append(("parameter", name))
            pattern_parts.append("{" + name + kind.removeprefix("parameter") + "}")
            path_parts.append(draw(SEGMENT_TEXT))
    catch_all = draw(st.booleans())
    if catch_all:
        pattern_parts.append("{rest:path}")
        rest = "/".join(draw(st.lists(SEGMENT_TEXT, min_size=1, max_size=3)))
        path_parts.append(rest + draw(st.sampled_from(["", "/"])))
    pattern = "/" + "/".join(pattern_parts)
    path = "/" + "/".join(path_parts)
    extra = draw(SEGMENT_TEXT)
    place = draw(st.integers(0, len(path) - 1))
    other = draw(st.sampled_from(PCHARS + "/"))
    near = [
        path + "/",
        path + "/" + extra,
        "/" + extra + path,
        path[:-1],
        path[:place] + other + path[place + 1:],  # one character changed: is a . in the pattern a dot?
        path.rsplit("/", 1)[0],  # the last segment gone
        path.swapcase(),  # paths are case-sensitive
    ]
    if catch_all:
        near.append("/" + "/".join(path_parts[:-1] + [""]))  # an empty rest
    return pattern, parts, catch_all, [path, *near]


@pytest.mark.task(1)
@pytest.mark.hint("Walk the pattern with PARAMETER.finditer: re.escape() each literal piece (every one, not only "
                  "the dots), a {name} is (?P<name>[^/]+) whatever characters the segment holds, {rest:path} is "
                  "(?P<rest>.+), and the whole is anchored with ^ and $.", docs="#from-pattern-to-regex")
def test_any_pattern_matches_exactly_the_paths_it_describes(router_module):
    """Any pattern of literal segments, {name}s and a final {rest:path} matches exactly the paths it describes"""
    # Found bugs, pinned: characters a hand-made escape forgets, and segment text a narrow class refuses.
    expect_matches(router_module, "/wiki/Python_(language)", [("/wiki/Python_(language)", {}),
                                                              ("/wiki/Python_language", None)])
    expect_matches(router_module, "/price/{amount}/$*", [("/price/~3,50!/$*", {"amount": "~3,50!"}),
                                                        ("/price/3/", None)])

    # Each example compiles one pattern and tries it on eight paths. 60 examples are a few hundred paths, in a
    # fraction of a second; every mistake of the family found so far fails within the first ten.
    @course_settings(max_examples=60)
    @given(patterns_and_paths())
    def every_pattern(case):
        pattern, parts, catch_all, paths = case
        regex = call(router_module.compile_pattern, pattern)
        for path in paths:
            expected = described_match(parts, catch_all, path)
            got, meaning = matches(regex, path), None
            if got == expected:
                got, meaning = searches(regex, path), UNANCHORED
            if got != expected:
                raise CheckFailed(
                    f"compile_pattern({pattern!r}) made {regex.pattern!r}, which gets {path!r} wrong.",
                    expected=shown_match(expected),
                    received=shown_match(got),
                    meaning=meaning or "Each {name} is one whole segment, whatever characters it holds (only a "
                    "slash ends it); each literal character means itself; {rest:path} is everything after, "
                    "and never nothing.",
                )

    every_pattern()


@pytest.mark.task(1)
@pytest.mark.hint("Check each name as you go: name.isidentifier(), and keep a set of the names seen.",
                  docs="#from-pattern-to-regex")
def test_bad_patterns_are_refused_with_a_clear_error(router_module):
    """A pattern with a repeated or invalid parameter name is refused with ValueError"""
    for pattern, word in [("/{a}/{a}", "a"), ("/{1st}", "1st"), ("/{x:number}", "number"), ("/{a}/{a:path}", "a"),
                          ("/{my-name}", "my-name")]:
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


@pytest.mark.task(2, needs=(1,))
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


@pytest.mark.task(3, needs=(1,))
@pytest.mark.hint(
    "Try every route in order. Collect the methods of every route whose regex matches the path, all of them "
    "even after the winner is found; the first route that also has the method wins. Then add HEAD (only if GET "
    "is there) and OPTIONS. No route matched: None.",
    docs="#matching-a-request",
)
def test_match_has_three_outcomes(router_module):
    """match() finds the first route for path and method, or only the allowed methods, or nothing"""
    router = router_module.Router()
    router.add_route("/user/{name}", lambda request: "first", ["GET"])
    router.add_route("/user/{name}", lambda request: "second", ["GET", "PUT"])
    router.add_route("/user/admin", lambda request: "admin", ["GET"])
    router.add_route("/upload", lambda request: "upload", ["POST"])

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
    every = {"GET", "HEAD", "OPTIONS", "PUT"}
    for shown, found, expected in [
        ('match("DELETE", "/user/ada").allowed', wrong_method, every),
        ('match("GET", "/user/admin").allowed', full, every),
        ('match("GET", "/upload").allowed', call(router.match, "GET", "/upload"), {"OPTIONS", "POST"}),
    ]:
        got = set(found.allowed) if found is not None else None
        if got != expected:
            raise CheckFailed(f"{shown} is not every method the path allows.", expected=str(sorted(expected)),
                              received=short(found.allowed if found is not None else None, 200),
                              meaning="allowed holds the methods of every route whose pattern matches the path, "
                              "the winner's and the later ones' too, plus HEAD when GET is there (never without "
                              "it: HEAD is answered by the GET handler) and OPTIONS, which the router answers.")
    lower = call(router.match, "get", "/user/ada")
    if lower is None or lower.route is not None:
        raise CheckFailed('match("get", "/user/ada") found a route: "get" is not GET.',
                          expected="a Match with route None (the path is known, the method is not)",
                          received=short(lower, 200),
                          meaning="RFC 9110, section 9.1: the method token is case-sensitive. add_route() "
                          "upper-cases the methods you register; a request's method is compared as it came.")
    nothing = call(router.match, "GET", "/nowhere")
    expect_equal('match("GET", "/nowhere")', nothing, None)


@pytest.mark.task(3, needs=(1,))
@pytest.mark.hint("Match the path exactly as you are given it, still encoded, and only then unquote() each "
                  "parameter, once (unquote, not unquote_plus: a + in a path is a plus).",
                  docs="#match-the-raw-path-decode-afterwards")
def test_match_uses_the_raw_path_and_decodes_each_parameter_once(router_module):
    """match() matches the path as sent, then decodes each parameter once: /user/a%2Fb is the user a/b"""
    router = router_module.Router()
    router.add_route("/user/{name}", lambda request: "user", ["GET"])
    router.add_route("/user/{name}/{tab}", lambda request: "tab", ["GET"])
    router.add_route("/files/{rest:path}", lambda request: "files", ["GET"])
    for path, pattern, params, why in [
        ("/user/a%2Fb", "/user/{name}", {"name": "a/b"},
         "%2F is a slash that belongs to the data: matched before decoding, /user/a%2Fb is two segments."),
        ("/user/100%2541", "/user/{name}", {"name": "100%41"},
         "%25 is a percent sign: decoded once, 100%2541 is 100%41. Decoding twice turns it into 100A."),
        ("/user/a+b", "/user/{name}", {"name": "a+b"},
         "In a path, + is a plus sign: unquote() leaves it alone; unquote_plus() is for form data."),
        ("/files/a%2Fb/c%20d", "/files/{rest:path}", {"rest": "a/b/c d"},
         "The catch-all is decoded like any parameter, after matching."),
        ("/user/ada/", None, None,
         "A trailing slash is part of the path: /user/ada/ is not /user/ada, and no route here has an empty {tab}."),
    ]:
        found = call(router.match, "GET", path)
        got = None if found is None else (getattr(found.route, "pattern", None), found.params)
        expected = None if pattern is None else (pattern, params)
        if got != expected:
            raise CheckFailed(
                f'match("GET", {path!r}) is not right.',
                expected="no match (None)" if expected is None else f"the route {pattern!r} with params {params}",
                received="no match (None)" if found is None else
                f"the route {got[0]!r} with params {short(got[1], 200)}",
                meaning=why,
            )


def allow_list(value):
    """The methods of an Allow value, in order: ``"GET, HEAD"`` -> ``["GET", "HEAD"]``."""
    return [method.strip() for method in (value or "").split(",") if method.strip()]


@pytest.mark.task(4, needs=(1, 3))
@pytest.mark.hint("No route knows the raw path (request.raw_path: still encoded, no query): 404. Known, but "
                  "not for this method: 405, or 204 for OPTIONS, both with Allow = sorted(allowed) joined with "
                  "', '. Otherwise the route's handler answers, a route registered for OPTIONS too.",
                  docs="#dispatching")
def test_the_router_answers_404_405_and_options_itself(router_module, learner_module):
    """Called directly, the router answers 404, 405 and OPTIONS itself, with a sorted Allow of every route's methods"""
    request_module = learner_module("request")
    HTTPResponse = learner_module("response").HTTPResponse
    router = router_module.Router()
    router.add_route("/notes", lambda request: "all notes", ["GET"])
    router.add_route("/notes", lambda request: "note added", ["POST"])
    router.add_route("/notes", lambda request: "never reached: the first GET route wins", ["GET"])
    router.add_route("/notes/{id}", lambda request: f"note {request.path_params.get('id')}", ["GET", "DELETE"])
    router.add_route("/notes/{id}", lambda request: "note replaced", ["PUT"])
    router.add_route("/upload", lambda request: "uploaded", ["POST"])
    router.add_route("/cors", lambda request: HTTPResponse(HTTPStatus.OK, "my own OPTIONS"), ["OPTIONS"])
    notes = "GET, HEAD, OPTIONS, POST"
    note = "DELETE, GET, HEAD, OPTIONS, PUT"
    # (request line, status, Allow or None, body or None)
    for line, status, allow, body in [
        ("GET /notes", 200, None, b"all notes"),
        ("POST /notes", 200, None, b"note added"),
        ("PATCH /notes", 405, notes, None),
        ("OPTIONS /notes", 204, notes, b""),
        ("DELETE /notes/7", 200, None, b"note 7"),
        ("PATCH /notes/7", 405, note, None),
        ("OPTIONS /notes/7", 204, note, b""),
        ("GET /upload", 405, "OPTIONS, POST", None),
        ("HEAD /upload", 405, "OPTIONS, POST", None),
        ("HEAD /notes", 200, None, b"all notes"),
        ("OPTIONS /cors", 200, None, b"my own OPTIONS"),
        ("GET /cors", 405, "OPTIONS", None),
        ("GET /nowhere", 404, None, None),
        ("OPTIONS /nowhere", 404, None, None),
        ("GET /notes/a%2Fb", 200, None, b"note a/b"),
        ("GET /notes?sort=new", 200, None, b"all notes"),
        ("GET /notes/", 404, None, None),
        ("get /notes", 405, notes, None),
    ]:
        data = f"{line} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        request, _ = call(request_module.parse_request, data)
        response = call(router, request, shown=f"router(the request {line} HTTP/1.1)")
        status_got = getattr(response, "status", None)
        headers = getattr(response, "headers", None)
        allow_got = headers.get("Allow") if headers is not None else None
        body_got = getattr(response, "body", None)
        if line.startswith("get ") and status_got == HTTPStatus.NOT_IMPLEMENTED:
            continue  # RFC 9110, section 15.6.2: 501 is also right for a method the server does not recognise
        got = (status_got, allow_list(allow_got) if allow is not None else None, body_got if body is not None else None)
        if got != (status, allow_list(allow) if allow is not None else None, body):
            expected = f"status {status}" + (f", Allow: {allow}" if allow else "") + (f", body {body!r}" if body is not None else "")
            raise CheckFailed(
                f"router(request) answers {line} wrongly.",
                sent=data,
                expected=expected,
                received=f"status {status_got!r}, Allow: {allow_got!r}, body {short(body_got)}"
                if isinstance(response, HTTPResponse) else short(response, 200),
                meaning=dispatch_meaning(line, status, allow),
            )


def dispatch_meaning(line, status, allow):
    method, target = line.split(" ")
    if method == "get":
        return "RFC 9110, section 9.1: methods are case-sensitive; 'get' is not GET, so /notes does not allow it (405)."
    if "%2F" in target or "?" in target or target.endswith("/"):
        return ("Match request.raw_path: the path as sent, still percent-encoded, without the query. request.path "
                "is decoded already (so a%2Fb has become two segments); request.target still holds the query.")
    if target == "/cors":
        return "A route registered for OPTIONS answers OPTIONS itself: the router answers only when no route does."
    if method == "HEAD" and status == 200:
        return ("HEAD is matched as GET and answered by the GET handler, body and all: the server sends the head "
                "alone, with the Content-Length of that body.")
    if allow:
        return ("Allow lists every method the path allows, each once (two routes here allow GET), sorted and joined "
                "with ', ': several routes may share a path, and HEAD comes only with GET.")
    return None


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
        ("<p>Grüße</p>", "text/html; charset=utf-8", "<p>Grüße</p>".encode()),
        (b"\x00\xff", "text/html; charset=utf-8", b"\x00\xff"),
    ]:
        response = call(router_module.to_response, value)
        expect_equal(f"to_response({value!r}): status, Content-Type, body",
                     (response.status, response.headers.get("Content-Type"), response.body), (200, content_type, body))
    for value in ({"a": [1, 2]}, [1, "two"], {"name": "Jürgen"}):
        response = call(router_module.to_response, value)
        try:
            decoded = json.loads(response.body)
        except ValueError:
            decoded = None
        expect_equal(f"to_response({value!r}): status, Content-Type, decoded body",
                     (response.status, response.headers.get("Content-Type"), decoded), (200, "application/json", value),
                     meaning="A dict or list is sent as JSON: json.dumps, with Content-Type: application/json.")
    for value in (42, None, ("text", 200)):
        try:
            returned = call(router_module.to_response, value, expected_errors=(TypeError,))
        except TypeError:
            continue
        raise CheckFailed(f"to_response({value!r}) should raise TypeError.", expected="TypeError",
                          received=f"it returned {short(returned, 200)}",
                          meaning="A handler returning a number, a tuple or None (a forgotten return) is a bug: "
                          "say so loudly rather than send something odd.")
