"""Step 2 — parser: checks of the parser and the response builder, called directly on bytes.

These checks call your functions in request.py and response.py without any
network: each gets all the bytes there are, whole or a piece at a time.
"""

import importlib.util
import re
import sys
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path

import pytest
from hypothesis import example, given

from checks.expect import IMF_FIXDATE
from checks.properties import course_settings
from checks.report import CheckFailed, visible
from checks.unit import call, expect_equal, expect_refusal, short
from checks.wire import parse_response


def sibling(name):
    """This folder's ``name``.py, which is not a check (pytest imports checks without their folder on sys.path)."""
    key = f"step2_checks_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        sys.modules[key] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[key])
    return sys.modules[key]


grammar = sibling("grammar")
Case, Oddity, Reading = grammar.Case, grammar.Oddity, grammar.Reading

# A complete request with a body, as a client would send it.
POST = (
    b"POST /submit?x=1 HTTP/1.1\r\n"
    b"Host: localhost:8080\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 5\r\n"
    b"\r\n"
    b"hello"
)


@pytest.fixture
def request_module(learner_module):
    return learner_module("request")


@pytest.fixture
def response_module(learner_module):
    return learner_module("response")


def fields(headers):
    return [(name, value) for name, value in headers]


# --- Comparing with h11: what the property checks share -------------------------------------------------
# Each property draws input from RFC 9112's grammar (grammar.py), asks h11 what it makes of it, and
# compares the learner's function with that, following the course's own rules where it is stricter
# than h11 (grammar.py's docstring lists them; so does the docs page).

# Which part of a request each field of a reading comes from (a key of grammar.PARTS).
PART_OF_FIELD = {"method": "request line", "target": "request line", "version": "request line",
                 "headers": "header", "path": "target", "query_params": "target", "body": "body",
                 "used": "body", "outcome": "body"}


def status_of(refusal):
    status = getattr(refusal, "status", None)
    try:
        return int(status)
    except (TypeError, ValueError):
        return status


def answer_of(function, args, HTTPError, shown_call, **kwargs):
    """``(None, returned)``, or ``(Reading of the refusal, None)`` when ``function`` raised HTTPError."""
    try:
        return None, call(function, *args, shown=shown_call, expected_errors=(HTTPError,), **kwargs)
    except HTTPError as refusal:
        reason = getattr(refusal, "message", None) or str(refusal)
        return Reading("refused", status=status_of(refusal), reason=reason), None


def header_list(headers):
    """The learner's headers as [(lowercase name, value)], or a string saying why they are not pairs."""
    try:
        return [(name.lower(), value) for name, value in headers]
    except (TypeError, ValueError, AttributeError):
        return f"{short(headers, 200)}, not (name, value) pairs: parse_headers should return a Headers"


def request_reading(got):
    """What parse_request returned, as a Reading."""
    if got is None:
        return Reading("need more data")
    if not (isinstance(got, tuple) and len(got) == 2):
        return Reading("other", reason=f"{short(got, 200)}, which is not None and not (request, used)")
    request, used = got
    return Reading("request", **{name: getattr(request, name, None) for name in
                                 ("method", "target", "version", "body", "path", "query_params")},
                   headers=header_list(getattr(request, "headers", ())), used=used)


def sent_with_notes(data, oddities, given=""):
    text = visible(data)
    if oddities:
        text += "\n(what is unusual about it: " + "; ".join(oddity.note for oddity in oddities) + ")"
    return text + (f"\n({given})" if given else "")


def blame(oddities, reading, part=None):
    """Whose job the difference is, and why, in a sentence or two."""
    if part is None:
        must = [oddity for oddity in oddities if oddity.must_refuse] or list(oddities)
        if must:
            return f"{must[0].note[:1].upper()}{must[0].note[1:]}. Refusing it is the job of {grammar.PARTS[must[0].part]}."
        reason = reading.reason or ""
        part = "header" if "header" in reason and "Content-Length" not in reason and "Transfer" not in reason \
            else "framing" if "Content-Length" in reason or "Transfer" in reason else "request line"
        return f"h11 refuses it ({reason}). Refusing it is the job of {grammar.PARTS[part]}."
    return f"The difference comes from {grammar.PARTS[part]}."


def glue_diagnosis(request_module, data, h11_view, must_refuse):
    """When parse_request gets wrong what its helpers get right: a sentence saying so, or None.

    The head is split at \\r\\n here, as the course does, and handed to the learner's own
    parse_request_line and parse_headers: if they refuse it (or read it as h11 does), the helper is
    fine and the bytes parse_request gave it were not these.
    """
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    line, *lines = data[:head_end].split(b"\r\n")
    HTTPError = request_module.HTTPError
    for name, function, argument in (("parse_request_line", request_module.parse_request_line, line),
                                     ("parse_headers", request_module.parse_headers, lines)):
        try:
            returned = call(function, argument, expected_errors=(HTTPError,))
        except HTTPError:
            if must_refuse:
                return (f"Your {name}, given the head split at \\r\\n, refuses it as it should; so parse_request "
                        "(TODO 4) did not give it those bytes. Split the head at \\r\\n only, and pass every line.")
            continue
        except CheckFailed:
            return None
        if name == "parse_headers" and h11_view.outcome == "request" and \
                grammar.without_lengths(header_list(returned)) == grammar.without_lengths(h11_view.headers):
            return ("Your parse_headers, given the head split at \\r\\n, reads these fields as h11 does; so "
                    "parse_request (TODO 4) did not give it those lines. Split the head at \\r\\n only.")
    return None


def judge(function_name, sent, oddities, expected, got, compared, diagnose=None):
    """Fail, with the input shown, unless ``got`` (the learner's Reading) is an answer ``expected`` allows.

    ``diagnose()``, if given, may return a better sentence on whose job the difference is.
    """
    def fail(summary, meaning, detail=None):
        meaning = (diagnose and diagnose()) or meaning
        raise CheckFailed(summary, sent=sent, expected=expected.describe(compared),
                          received=grammar.describe_reading(got, compared), meaning=meaning, detail=detail)

    h11_view = expected.reading
    if got.outcome == "refused":
        if not (expected.must_refuse or expected.may_refuse):
            what = "an incomplete request" if h11_view.outcome == "need more data" else "a request"
            fail(f"{function_name} refused {what} that h11 (a strict HTTP/1.1 parser) reads without complaint.",
                 "Nothing in it breaks RFC 9112's rules." if h11_view.outcome == "request" else
                 "It is not wrong, only not complete yet: return None, and wait for more bytes.")
        if got.status not in expected.statuses:
            fail(f"{function_name} refused this, but with the wrong status.", blame(oddities, h11_view))
        return
    if expected.must_refuse:
        fail(f"{function_name} should have refused this.", blame(oddities, h11_view))
    if got.outcome != h11_view.outcome:
        fail(f"{function_name} and h11 (a strict HTTP/1.1 parser) disagree about this input.",
             blame(oddities, h11_view, part="body") + " None means \"not complete yet\"; (request, used) means "
             "\"complete\": the head has ended and Content-Length body bytes have arrived.")
    if got.outcome != "request":
        return
    differ = [(name, getattr(h11_view, name), getattr(got, name)) for name in compared
              if name != "headers" and getattr(h11_view, name) != getattr(got, name)]
    if "headers" in compared and (grammar.without_lengths(h11_view.headers) != grammar.without_lengths(got.headers)
                                  if isinstance(got.headers, list) else True):
        differ.insert(0, ("headers", h11_view.headers, got.headers))
    elif "headers" in compared and not grammar.lengths_agree(h11_view.headers, got.headers):
        differ.insert(0, ("the Content-Length fields", h11_view.headers, got.headers))
    differ.sort(key=lambda item: list(PART_OF_FIELD).index(item[0]) if item[0] in PART_OF_FIELD else 3)
    if differ:
        name, wanted, found = differ[0]
        also = " (refusing it would also be fine)" if expected.may_refuse else ""
        fail(f"{function_name} reads this differently from h11 (a strict HTTP/1.1 parser){also}.",
             blame(oddities, h11_view, part=PART_OF_FIELD.get(name, "header")),
             detail=f"The first difference, in {name}:\n  h11:  {wanted!r}\n  yours: {found!r}")


@pytest.mark.task(1)
@pytest.mark.hint(
    "Split the line on single spaces: exactly three parts. Decode them (ASCII) into str. A target may be a "
    "path (/a?b=1) or a full URL (http://host/a): ABSOLUTE_FORM.match(target) recognises the second.",
    docs="#the-request-line",
)
def test_request_line_is_split(request_module):
    """The request line splits into method, target and version"""
    for line, expected in [
        (b"GET / HTTP/1.1", ("GET", "/", "HTTP/1.1")),
        (b"POST /a/b?c=d HTTP/1.0", ("POST", "/a/b?c=d", "HTTP/1.0")),
        (b"DELETE /files/x%20y HTTP/1.1", ("DELETE", "/files/x%20y", "HTTP/1.1")),
        (b"GET http://example.com:8080/a?b=1 HTTP/1.1", ("GET", "http://example.com:8080/a?b=1", "HTTP/1.1")),
    ]:
        got = call(request_module.parse_request_line, line)
        expect_equal(f"parse_request_line({short(line)})", got, expected, sent=line,
                     meaning="The target stays exactly as sent; decoding it is split_target's job. A full "
                     "http:// URL is a valid target too (absolute-form): a server MUST accept it.")


@pytest.mark.task(1)
@pytest.mark.hint(
    "Check each part: the method is a token (letters, digits and !#$%&'*+-.^_`|~), the target "
    "starts with / and is printable ASCII, the version looks like HTTP/x.y. "
    "Only HTTP/1.0 and HTTP/1.1 are spoken (else 505).",
    docs="#the-request-line",
)
def test_bad_request_lines_are_refused(request_module):
    """A malformed request line is refused with 400, an unsupported version with 505"""
    parse = request_module.parse_request_line
    for line, why in [
        (b"GET /", "it has two parts, not three"),
        (b"GET / HTTP/1.1 please", "it has four parts"),
        (b"G@T / HTTP/1.1", "@ is not allowed in a method"),
        (b"GET index.html HTTP/1.1", "the target does not start with /"),
        (b"CONNECT example.com:443 HTTP/1.1", "host:port is a target for proxies, not for this server"),
        (b"GET /a\nb HTTP/1.1", "a line feed inside the target would let it say two things"),
        (b"GET /caf\xe9 HTTP/1.1", "a target is ASCII: a client sends \u00e9 as %C3%A9, never as a raw byte"),
        (b"GET http://x/a\tb HTTP/1.1", "a full URL is a target too: no tab in it"),
        (b"GET http://x/a\x00b HTTP/1.1", "a full URL is a target too: no NUL byte in it"),
        (b"GET http://x/caf\xe9 HTTP/1.1", "a full URL is a target too: ASCII only"),
        (b"GET / HTTX/1.1", "the version is not HTTP/x.y"),
        (b"GET  / HTTP/1.1", "two spaces leave an empty part: SP is exactly one space"),
        (b"GET /  HTTP/1.1", "two spaces leave an empty part: SP is exactly one space"),
        (b"GET\t/ HTTP/1.1", "a tab is not SP, the one space byte the grammar asks for"),
        (b"GET / HTTP/1.1 ", "a space after the version makes a fourth, empty part"),
        (b" GET / HTTP/1.1", "a space before the method makes an empty first part"),
        (b"GET /\x0bHTTP/1.1", "a vertical tab is not SP"),
    ]:
        expect_refusal(request_module.HTTPError, parse, line, status=HTTPStatus.BAD_REQUEST, why=why)
    for line in (b"GET / HTTP/2.0", b"GET / HTTP/0.9"):
        expect_refusal(request_module.HTTPError, parse, line, status=HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
                       why="this server speaks only HTTP/1.0 and HTTP/1.1")


@pytest.mark.task(1)
@pytest.mark.hint(
    "Split on b\" \" (one space), not split(): exactly three parts. The target starts with / and is "
    "printable ASCII; the version is HTTP/1.0 or HTTP/1.1 (505 for other HTTP/x.y).",
    docs="#where-the-course-is-stricter-than-h11",
)
def test_request_lines_agree_with_h11(request_module):
    """Request lines drawn from RFC 9112's grammar, valid and broken, are read as h11 reads them"""
    grammar.run_property(request_lines_agree, request_module)


@course_settings(max_examples=100)
@given(drawn=grammar.request_lines())
@example(drawn=(b"GET  / HTTP/1.1", []))
@example(drawn=(b"GET http://example.com/a?b=1 HTTP/1.1", []))
@example(drawn=(b"GET\t/ HTTP/1.1", []))
@example(drawn=(b"GET / HTTP/1.1\x0c", []))
@example(drawn=(b"GET /caf\xc3\xa9 HTTP/1.1", [Oddity("the raw bytes of \u00e9 in the target")]))
def request_lines_agree(request_module, drawn):
    line, oddities = drawn
    reading = grammar.h11_reads(line + b"\r\nHost: example.com\r\n\r\n")
    expected = grammar.expectation(oddities, reading)
    got, returned = answer_of(request_module.parse_request_line, (line,), request_module.HTTPError,
                              f"parse_request_line({short(line)})")
    if got is None:
        got = Reading("request", **dict(zip(("method", "target", "version"), returned))) \
            if isinstance(returned, tuple) and len(returned) == 3 else \
            Reading("other", reason=f"{short(returned, 200)}, not (method, target, version)")
    judge("parse_request_line", sent_with_notes(line, oddities), oddities, expected, got,
          ("method", "target", "version"))


@pytest.mark.task(2)
@pytest.mark.hint(
    "line.partition(b':') splits at the first colon only; strip spaces and tabs around the value. "
    "Headers looks names up without regard to case and keeps repeated fields.",
    docs="#header-fields",
)
def test_headers_are_parsed(request_module):
    """Header names match in any case, values keep their own colons, repeated fields are all kept"""
    lines = [b"Host: localhost:8080", b"X-Thing: \t spaced value \t", b"Accept: a", b"accept: b", b"Empty:",
             b"X-Id: XOX"]
    headers = call(request_module.parse_headers, lines)
    sent = b"\r\n".join(lines)
    expect_equal("headers['host'] (sent as Host: localhost:8080)", headers.get("host"), "localhost:8080", sent=sent,
                 meaning="Split at the first colon only: the value may contain more.")
    expect_equal("headers.get('x-thing')", headers.get("x-thing"), "spaced value", sent=sent,
                 meaning="Spaces and tabs around a value are not part of it.")
    expect_equal("headers.get_all('ACCEPT')", headers.get_all("ACCEPT"), ["a", "b"], sent=sent,
                 meaning="A field sent twice must not lose its first value.")
    expect_equal("headers.get('empty')", headers.get("empty"), "", sent=sent)
    expect_equal("headers.get('x-id')", headers.get("x-id"), "XOX", sent=sent,
                 meaning="Only spaces and tabs are stripped from around a value; its own characters stay.")


def expect_within_limit(request_module, function, argument, shown, what):
    """A ``CheckFailed`` if ``function(argument)`` refuses input that is exactly at a limit, not over it."""
    try:
        call(function, argument, shown=shown, expected_errors=(request_module.HTTPError,))
    except request_module.HTTPError as refused:
        raise CheckFailed(
            f"{shown} was refused, but it is within the limit.",
            expected=f"no HTTPError: {what} is allowed",
            received=f"HTTPError {getattr(refused, 'status', '?')}: {refused}",
            meaning="A limit says how much is allowed: only more than that is refused. "
            "Compare with >, not >=, and for a line or head still arriving, count what could still fit.",
        ) from None


@pytest.mark.task(2)
@pytest.mark.hint(
    "A header name is a token: no spaces, so 'Host : x' and ' folded: x' are refused. A value holds no "
    "control character but tab (CONTROL_IN_VALUE): check it before stripping. "
    "Count the lines before parsing them: over MAX_HEADERS is 431.",
    docs="#header-fields",
)
def test_bad_header_lines_are_refused(request_module):
    """A header line without a colon, with space before it or a control character in its value gets 400; over 100 headers gets 431"""
    parse = request_module.parse_headers
    for line, why in [
        (b"NoColonHere", "the line has no colon"),
        (b"Host : example.com", "whitespace before the colon is forbidden (RFC 9112, section 5.1)"),
        (b" folded: value", "a line may not start with whitespace (obsolete line folding)"),
        (b": no name", "the name is empty"),
        (b"X-Thing: a\rb", "a CR inside a value is invalid and dangerous (RFC 9110, section 5.5)"),
        (b"X-Thing: a\nX-Other: b", "a lone LF inside a value could smuggle in a second header"),
        (b"X-Thing: a\x00b", "a NUL inside a value is invalid and dangerous (RFC 9110, section 5.5)"),
        (b"X-Thing: \x0ba", "a vertical tab is a control character, not OWS: it must not be stripped away"),
    ]:
        expect_refusal(request_module.HTTPError, parse, [b"Host: x", line], status=HTTPStatus.BAD_REQUEST, why=why)
    many = [f"X-Header-{number}: {number}".encode() for number in range(101)]
    expect_refusal(request_module.HTTPError, parse, many, status=HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                   why="101 header fields are more than MAX_HEADERS (100)")
    expect_within_limit(request_module, parse, many[:100], "parse_headers(100 header lines)",
                        "exactly MAX_HEADERS (100) header fields")


@pytest.mark.task(2)
@pytest.mark.hint(
    "Split each line at its first colon; the name must be a whole token; refuse control characters "
    "in the value (CONTROL_IN_VALUE), then strip only spaces and tabs; keep every field, in order.",
    docs="#where-the-course-is-stricter-than-h11",
)
def test_header_fields_agree_with_h11(request_module):
    """Header fields drawn from RFC 9112's grammar, valid and broken, are read as h11 reads them"""
    grammar.run_property(header_fields_agree, request_module)


@course_settings(max_examples=100)
@given(drawn=grammar.header_blocks())
@example(drawn=([b"Host: x", b"X-Thing: a\rb"], []))
@example(drawn=([b"Host: x", b"X-Thing: a\nb"], []))
@example(drawn=([b"Host: x", b"X-Thing: a\x00b"], []))
@example(drawn=([b"Host: x", b"X-Thing:\x0b a \x0c"], []))
@example(drawn=([b"Host: localhost:8080", b"X-Thing:\t a b \t", b"x-thing: c", b"Empty:"], []))
def header_fields_agree(request_module, drawn):
    lines, oddities = drawn
    reading = grammar.h11_reads(b"GET / HTTP/1.1\r\n" + b"\r\n".join(lines) + b"\r\n\r\n")
    expected = grammar.expectation(oddities, reading)
    got, returned = answer_of(request_module.parse_headers, (lines,), request_module.HTTPError,
                              f"parse_headers({short(lines, 200)})")
    if got is None:
        got = Reading("request", headers=header_list(returned))
    judge("parse_headers", sent_with_notes(b"\r\n".join(lines), oddities, "the lines, joined here with \\r\\n"),
          oddities, expected, got, ("headers",))


@pytest.mark.task(3)
@pytest.mark.hint(
    "urllib.parse.unquote decodes %XX in the path and leaves + alone; "
    "parse_qs(query, keep_blank_values=True) gives lists and keeps empty values.",
    docs="#path-and-query",
)
def test_target_is_split_into_path_and_query(request_module):
    """The path is percent-decoded (a + stays a +) and the query becomes lists of values"""
    plus = "In a path, + is a plus sign; only in a query string does it stand for a space."
    for target, expected, meaning in [
        ("/", ("/", {}), plus),
        ("/a%20b/c+d", ("/a b/c+d", {}), plus),
        ("/caf%C3%A9?q=%26", ("/café", {"q": ["&"]}), "Cut at the first ? before decoding: %26 is an & inside a value."),
        ("/search?x=1&x=2&empty=&plus=a+b", ("/search", {"x": ["1", "2"], "empty": [""], "plus": ["a b"]}), plus),
        ("/a?b=1?c", ("/a", {"b": ["1?c"]}), "Only the first ? starts the query; a second one is part of it."),
        ("//evil.example/admin?x=1", ("//evil.example/admin", {"x": ["1"]}),
         "A request target is a path: //evil.example/admin is a path whose first segment is empty, not a host "
         "(RFC 9112, section 3.2.1). urlsplit() reads it as a URL and drops the host part."),
        ("/a//b", ("/a//b", {}), "Empty segments are part of the path: keep them."),
        ("/%FF%zz", ("/\ufffd%zz", {}), "A broken %-sequence becomes \ufffd (or stays as it is), never an exception."),
    ]:
        got = call(request_module.split_target, target)
        expect_equal(f"split_target({target!r})", got, expected, meaning=meaning)


@pytest.mark.task(4, needs=(1, 2, 3))
@pytest.mark.hint(
    "Return None until the head's blank line and then all Content-Length body bytes are there. "
    "Return (request, used): used counts the bytes the request took, so bytes after it are left alone.",
    docs="#putting-it-together",
)
def test_request_parses_whole_piecewise_or_with_more_after(request_module):
    """A request parses the same fed whole, one byte at a time, or with more bytes after it"""
    parse = request_module.parse_request
    for end in range(len(POST)):
        got = call(parse, POST[:end])
        if got is not None:
            raise CheckFailed(
                f"parse_request returned a request after only {end} of {len(POST)} bytes.",
                sent=POST[:end],
                expected="None: the request is not complete yet",
                received=short(got, 200),
            )
    for data in (POST, POST + b"GET /next HTTP/1.1\r\n"):
        got = call(parse, data)
        if not isinstance(got, tuple) or len(got) != 2:
            raise CheckFailed("parse_request should return (request, used).", sent=data, received=short(got, 200))
        request, used = got
        expect_equal("used, the number of bytes the request took", used, len(POST), sent=data)
        expect_equal("request.method, request.target, request.version",
                     (request.method, request.target, request.version), ("POST", "/submit?x=1", "HTTP/1.1"), sent=data)
        expect_equal("request.path and request.query_params", (request.path, request.query_params),
                     ("/submit", {"x": ["1"]}), sent=data)
        expect_equal("request.headers['content-type']", request.headers.get("content-type"), "text/plain", sent=data)
        expect_equal("request.body", request.body, b"hello", sent=data,
                     meaning="The body is exactly Content-Length bytes: what comes after belongs to the next request.")


@pytest.mark.task(4, needs=(1, 2, 3))
@pytest.mark.hint(
    "Slice the body out of the bytes and keep it as bytes: never decode it. "
    "Images and uploads are not text.",
    docs="#putting-it-together",
)
def test_body_stays_bytes(request_module):
    """The body is exactly Content-Length bytes, kept as bytes, even when they are not text"""
    body = b"\xff\xfe\x00binary\r\n\r\n\x80"
    data = b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    request, _ = call(request_module.parse_request, data)
    expect_equal("request.body", request.body, body, sent=data,
                 meaning="Binary bytes must arrive untouched: decoding them as UTF-8 fails or changes them.")
    without_body, _ = call(request_module.parse_request, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    expect_equal("request.body of a request without Content-Length", without_body.body, b"")


@pytest.mark.task(4, needs=(1, 2, 3))
@pytest.mark.hint(
    "Check the limits before waiting for more: over MAX_REQUEST_LINE_BYTES with no CRLF is 414; "
    "over MAX_HEAD_BYTES with no blank line is 431; a Content-Length over max_body is 413. Exactly at a "
    "limit is allowed.",
    docs="#why-limits",
)
def test_limits_are_enforced(request_module):
    """Requests over the limits are refused early (414, 431 and 413), and ones exactly at a limit are not"""
    HTTPError = request_module.HTTPError
    long_line = b"GET /" + b"a" * 9000  # no CRLF yet, and already too long
    expect_refusal(HTTPError, request_module.parse_request, long_line, status=HTTPStatus.REQUEST_URI_TOO_LONG,
                   why="the request line is over 8 KiB, even before it ends")
    big_head = b"GET / HTTP/1.1\r\n" + b"X-Filler: " + b"f" * 70_000 + b"\r\n"
    expect_refusal(HTTPError, request_module.parse_request, big_head,
                   status=HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                   why="the head is over 64 KiB and has not ended")
    big_body = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
    expect_refusal(HTTPError, request_module.parse_request, big_body, max_body=10,
                   status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                   why="Content-Length (11) is over max_body (10): refuse before reading the body")
    # A limit is the most that is allowed: exactly that much passes, whole or still arriving.
    line_at_limit = b"GET /" + b"a" * (8192 - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"
    head_start = b"GET / HTTP/1.1\r\nHost: x\r\nX-Filler: "
    head_at_limit = head_start + b"f" * (64 * 1024 - len(head_start))
    parse = request_module.parse_request
    for data, shown, what in [
        (line_at_limit[:8192], "parse_request(the first 8192 bytes of a request line, no CRLF yet)",
         "8192 bytes with no CRLF yet: the line may still end at exactly 8 KiB"),
        (line_at_limit + b"\r\nHost: x\r\n\r\n", "parse_request(a request line of exactly 8192 bytes)",
         "a request line of exactly MAX_REQUEST_LINE_BYTES (8192) bytes, not counting its CRLF"),
        (head_at_limit, "parse_request(the first 65536 bytes of a head, no blank line yet)",
         "65536 bytes with no blank line yet: the head may still end at exactly 64 KiB"),
        (head_at_limit + b"\r\n\r\n", "parse_request(a head of exactly 65536 bytes)",
         "a head of exactly MAX_HEAD_BYTES (65536) bytes, not counting the blank line"),
    ]:
        expect_within_limit(request_module, parse, data, shown, what)


@pytest.mark.task(4, needs=(1, 2, 3))
@pytest.mark.hint(
    "Content-Length must be digits only; several Content-Length values must agree; "
    "Content-Length together with Transfer-Encoding is refused (request smuggling).",
    docs="#content-length-and-smuggling",
)
def test_bad_content_length_is_refused(request_module):
    """A bad Content-Length gets 400, and so does Content-Length with Transfer-Encoding"""
    head = b"POST / HTTP/1.1\r\nHost: x\r\n"
    for fields_, why in [
        (b"Content-Length: -1\r\n", "a length cannot be negative"),
        (b"Content-Length: five\r\n", "a length is digits"),
        (b"Content-Length: 5\r\nContent-Length: 6\r\n", "two different lengths: which one is true?"),
        (b"Content-Length: 5, 6\r\n", "two different lengths in one field"),
        (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
         "two framings at once is how requests are smuggled past proxies"),
    ]:
        expect_refusal(request_module.HTTPError, request_module.parse_request, head + fields_ + b"\r\nhello",
                       status=HTTPStatus.BAD_REQUEST, why=why)
    repeated = head + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
    request, _ = call(request_module.parse_request, repeated)
    expect_equal("the body when Content-Length is repeated with the same value", request.body, b"hello",
                 sent=repeated, meaning="The same length twice is allowed (RFC 9110, section 8.6).")


@pytest.mark.task(4, needs=(1, 2, 3))
@pytest.mark.hint(
    "Before you wait for more, ask the given lone_cr_or_lf(data, head_end): True is a 400 at once. It "
    "looks at all of data while the head has not ended, and only at the head once it has.",
    docs="#a-line-ends-with-crlf",
)
def test_a_lone_cr_or_lf_is_refused_at_once(request_module):
    """A line that ends with a CR or LF alone is refused with 400 as soon as it arrives, not waited on"""
    for data, why in [
        (b"GET / HTTP/1.1\nHost: x\n\n", "every line ends with a lone LF: the blank line CRLF CRLF never comes"),
        (b"GET / HTTP/1.1\n", "the request line ends with a lone LF, and nothing has come after it yet"),
        (b"GET / HTTP/1.1\rHost: x\r\r", "every line ends with a lone CR"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\nX-B: 2\r\n", "a lone LF inside the head, which has not ended yet"),
        (b"GET / HTTP/1.1\r\nHost: x\rX-B: 2\r\n\r\n", "a lone CR inside a complete head"),
    ]:
        expect_refusal(request_module.HTTPError, request_module.parse_request, data, status=HTTPStatus.BAD_REQUEST,
                       why=why + ": refuse it now, instead of waiting for a CRLF")
    for data, what in [
        (b"GET / HTTP/1.1\r\nHost: x\r", "a CR at the very end is not lone yet: its LF may come in the next recv()"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\na\nb\r",
         "the body is bytes, not lines: a CR or LF there is data"),
    ]:
        try:
            call(request_module.parse_request, data, expected_errors=(request_module.HTTPError,))
        except request_module.HTTPError as refused:
            raise CheckFailed("parse_request refused a request that has no lone CR or LF in its head.",
                              sent=data, expected=f"no HTTPError: {what}",
                              received=f"HTTPError {getattr(refused, 'status', '?')}: {refused}",
                              meaning="Look for a lone CR or LF in the head only, with lone_cr_or_lf(data, "
                              "head_end): head_end tells it where the head ends (-1: not yet).") from None


@pytest.mark.task(4, needs=(1, 2, 3))
@pytest.mark.hint(
    "After parsing the head, call the given check_host(target, version, headers) and use the target it "
    "returns: it refuses a missing, doubled or invalid Host, and turns a full URL into its path.",
    docs="#which-host",
)
def test_the_host_is_checked_and_a_full_url_becomes_a_path(request_module):
    """An HTTP/1.1 request needs one valid Host (else 400); a full URL as the target is served as its path"""
    for fields_, why in [
        (b"", "an HTTP/1.1 request without a Host field"),
        (b"Host: a\r\nHost: b\r\n", "two Host fields: which site is this for?"),
        (b"Host: a b\r\n", "a space cannot be part of a host name"),
        (b"Host: user@evil.example/x\r\n", "a Host is a host and a port, not a URL with a user name"),
    ]:
        expect_refusal(request_module.HTTPError, request_module.parse_request,
                       b"GET / HTTP/1.1\r\n" + fields_ + b"\r\n", status=HTTPStatus.BAD_REQUEST, why=why)
    old = b"GET /old HTTP/1.0\r\n\r\n"
    request, _ = call(request_module.parse_request, old)
    expect_equal("request.path of an HTTP/1.0 request without Host", request.path, "/old", sent=old,
                 meaning="HTTP/1.0 came before the Host field, so an HTTP/1.0 request may leave it out.")
    full = b"GET http://example.com:8080/a%20b?x=1 HTTP/1.1\r\nHost: other.example\r\n\r\n"
    request, _ = call(request_module.parse_request, full)
    expect_equal("(request.target, request.path, request.query_params, request.headers['Host'])",
                 (request.target, request.path, request.query_params, request.headers.get("Host")),
                 ("/a%20b?x=1", "/a b", {"x": ["1"]}, "example.com:8080"), sent=full,
                 meaning="A full URL names the host itself, and RFC 9112 (section 3.2.2) says it wins over "
                 "Host. check_host() returns the path to use as the target, so the rest of the server never "
                 "sees a URL.")


@pytest.mark.task(4, needs=(1, 2, 3))
@pytest.mark.hint(
    "Find the end of the head with data.find(b\"\\r\\n\\r\\n\"), split the head on \\r\\n only, let "
    "body_length() read Content-Length, wait for exactly that many body bytes, and return "
    "(request, used).",
    docs="#where-the-course-is-stricter-than-h11",
)
def test_parse_request_agrees_with_h11(request_module):
    """Requests drawn from RFC 9112's grammar, valid and broken, are read as h11 reads them, whole and in part"""
    grammar.run_property(parse_request_agrees, request_module)


@course_settings(max_examples=150)
@given(case=grammar.requests())
@example(case=Case.pinned(b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n"))
@example(case=Case.pinned(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rX-B: b\r\n\r\n"))
@example(case=Case.pinned(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"))
@example(case=Case.pinned(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\nhello"))
@example(case=Case.pinned(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5,\r\n\r\nhello"))
@example(case=Case.pinned(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\xa0\r\n\r\nhello"))
@example(case=Case.pinned(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"1" * 5000 + b"\r\n\r\n",
                          Oddity("Content-Length is 5000 digits long", statuses=(413,), part="framing")))
@example(case=Case.pinned(b"PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\na\r\n\r\nb\xc3\xa9!",
                          after=b"GET /next HTTP/1.1\r\n"))
def parse_request_agrees(request_module, case):
    parse, HTTPError = request_module.parse_request, request_module.HTTPError
    reading = grammar.as_served(grammar.h11_reads(case.data))
    expected = grammar.expectation(case.oddities, reading)
    given_text = f"parse_request was given these {len(case.data)} bytes, with max_body={case.max_body}"
    if len(case.data) > case.length:
        given_text += f"; the request is the first {case.length}, then the next one starts"
    got, returned = answer_of(parse, (case.data,), HTTPError, f"parse_request({short(case.data)})",
                              max_body=case.max_body)
    got = got or request_reading(returned)
    diagnose = None
    if got.outcome == "request" and (expected.must_refuse or got.headers != reading.headers):
        diagnose = lambda: glue_diagnosis(request_module, case.data, reading, expected.must_refuse)  # noqa: E731
    judge("parse_request", sent_with_notes(case.data, case.oddities, given_text), case.oddities, expected, got,
          grammar.FIELDS, diagnose)
    # The same request, cut short: "the bytes so far" of a request that is fine is never a request yet.
    end = reading.used if reading.outcome == "request" else case.length
    if case.oddities or reading.outcome == "refused" or case.cut >= end:
        return
    prefix = case.data[:case.cut]
    got, returned = answer_of(parse, (prefix,), HTTPError, f"parse_request({short(prefix)})", max_body=case.max_body)
    got = got or request_reading(returned)
    if got.outcome != "need more data":
        raise CheckFailed(
            f"parse_request answered before the request was complete: after {case.cut} of its {end} bytes.",
            sent=sent_with_notes(prefix, (), f"the first {case.cut} bytes of a {end}-byte request"),
            expected="None: the request is not complete yet (need more data)",
            received=grammar.describe_reading(got),
            meaning="parse_request is given the bytes received so far. Until the head has ended and all "
            "Content-Length body bytes are there, the answer is None; nothing is wrong yet.",
        )


def parsed(response_module, response, sent_method="GET"):
    raw = call(response.to_bytes, shown="response.to_bytes()")
    if not isinstance(raw, bytes):
        raise CheckFailed("to_bytes() must return bytes.", received=short(raw))
    try:
        return raw, parse_response(raw, closed=True, method=sent_method)
    except Exception as problem:
        raise CheckFailed("h11 (a strict parser) cannot read what to_bytes() made.", received=raw,
                          expected="a valid HTTP/1.1 response", meaning=f"h11 says: {problem}") from None


@pytest.mark.task(5)
@pytest.mark.hint(
    "Set Content-Length to len(self.body) (bytes), Connection: close, Date from "
    "email.utils.formatdate(usegmt=True) and a Server name; then status line, headers, blank line, body.",
    docs="#writing-the-response",
)
def test_response_bytes_are_complete(response_module):
    """A response has its status line, an exact Content-Length, a Date, a Server and Connection: close"""
    response = response_module.HTTPResponse(200, "héllo wörld")
    raw, got = parsed(response_module, response)
    expect_equal("the status line", raw.split(b"\r\n", 1)[0], b"HTTP/1.1 200 OK", sent=None)
    expect_equal("Content-Length (the body is 11 characters, 13 bytes)", got.header("content-length"), "13",
                 meaning="Content-Length counts bytes: é and ö are two bytes each in UTF-8.")
    expect_equal("the body", got.body, "héllo wörld".encode())
    date = got.header("date") or ""
    if not IMF_FIXDATE.fullmatch(date):
        raise CheckFailed("The Date header is not in IMF-fixdate form.", received=repr(date),
                          expected="e.g. 'Sun, 06 Nov 1994 08:49:37 GMT' (email.utils.formatdate(usegmt=True))")
    if abs(parsedate_to_datetime(date) - datetime.now(timezone.utc)) > timedelta(minutes=5):
        raise CheckFailed("The Date header is not the current time in GMT.", received=date,
                          meaning="Is it local time labelled GMT? Use email.utils.formatdate(usegmt=True).")
    if not got.header("server"):
        raise CheckFailed("The response has no Server header.", received=raw)
    expect_equal("the Connection header", (got.header("connection") or "").lower(), "close",
                 meaning="The server closes after every response, so it must say so.")


@pytest.mark.task(5)
@pytest.mark.hint(
    "HTTPStatus(code).phrase knows every reason phrase. Replace a Content-Length the handler set "
    "instead of adding a second one.",
    docs="#writing-the-response",
)
def test_reason_phrases_and_a_single_content_length(response_module):
    """Every status gets its reason phrase, and a handler's own Content-Length is not doubled"""
    for status in (201, 401, 418, 431):
        raw, _ = parsed(response_module, response_module.HTTPResponse(status))
        expected = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()
        expect_equal(f"the status line of HTTPResponse({status})", raw.split(b"\r\n", 1)[0], expected)
    response = response_module.HTTPResponse(200, b"abc", headers={"Content-Length": "99"})
    raw = call(response.to_bytes, shown="response.to_bytes()")
    lengths = re.findall(rb"(?im)^content-length:[^\r\n]*", raw)
    expect_equal('what HTTPResponse(200, b"abc", headers={"Content-Length": "99"}) sends as Content-Length',
                 lengths, [b"Content-Length: 3"], sent=None,
                 meaning="Two Content-Length headers that disagree make the response unreadable (h11 refuses it).")


HANDLER_FIELDS = [
    ("Set-Cookie", "theme=dark"),
    ("Set-Cookie", "lang=en"),
    ("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
    ("Server", "my-app/0.1"),
    ("X-Greeting", "café"),
]


@pytest.mark.task(5)
@pytest.mark.hint(
    "Start from a copy of the handler's headers, so every field it set goes out, repeated ones too. "
    "Add Date and Server only when it set none, and encode the head as latin-1.",
    docs="#writing-the-response",
)
def test_handler_headers_go_out_as_set(response_module):
    """A handler's own headers go out as it set them: repeated fields, its own Date and Server, a Latin-1 value"""
    headers = response_module.Headers()
    for name, value in HANDLER_FIELDS:
        headers.add(name, value)
    raw, parsed_response = parsed(response_module, response_module.HTTPResponse(200, "ok", headers=headers))
    head_lines = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    names = {name.lower().encode() for name, _ in HANDLER_FIELDS}
    got = [line for line in head_lines if line.split(b":", 1)[0].strip().lower() in names]
    wanted = [f"{name}: {value}".encode("latin-1") for name, value in HANDLER_FIELDS]
    if sorted(line.lower() for line in got) != sorted(line.lower() for line in wanted):
        raise CheckFailed(
            "to_bytes() did not send the handler's own headers as the handler set them.",
            sent="HTTPResponse(200, 'ok', headers=Headers with " + ", ".join(f"{n}: {v}" for n, v in HANDLER_FIELDS)
            + ").to_bytes()",
            expected="\n".join(repr(line) for line in wanted),
            received="\n".join(repr(line) for line in got) or "none of those lines",
            meaning="The handler decides its fields (two cookies, its own Date and Server): the server adds "
            "Date and Server only when they are missing. A value goes out in the same one-byte-per-character "
            "Latin-1 the parser reads with, so é is the single byte \\xe9.",
        )
    expect_equal("the Connection header after the handler's own", parsed_response.header("connection"), "close")
    fresh = response_module.Headers()
    fresh.add("Content-Type", "text/plain")
    call(response_module.HTTPResponse(200, "ok", headers=fresh).to_bytes, shown="response.to_bytes()")
    expect_equal("the handler's headers after to_bytes()", list(fresh), [("Content-Type", "text/plain")],
                 meaning="to_bytes() works on a copy: adding Date, Content-Length and Connection to the handler's "
                 "own headers would send a cached response's first Date for ever after.")
    for value in ("keep-alive", "Upgrade"):
        own = response_module.Headers()
        own.add("Connection", value)
        raw, _ = parsed(response_module, response_module.HTTPResponse(200, "ok", headers=own))
        lines = [line for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
                 if line.split(b":", 1)[0].strip().lower() == b"connection"]
        expect_equal(f"the Connection lines when the handler said Connection: {value}", lines,
                     [b"Connection: close"],
                     meaning="This server closes after every answer, whatever the handler said: Connection is "
                     "the server's to set, and it must say close, once, or the client waits for a next answer.")
