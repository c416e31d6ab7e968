"""Step 2 — parser: checks of the parser and the response builder, called directly on bytes.

These checks call your functions in request.py and response.py without any
network: each gets all the bytes there are, whole or a piece at a time.
"""

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus

import pytest

from checks.expect import IMF_FIXDATE
from checks.report import CheckFailed
from checks.unit import call, expect_equal, expect_refusal, short
from checks.wire import parse_response

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


@pytest.mark.task(1)
@pytest.mark.hint(
    "Split the line on single spaces: exactly three parts. Decode them (ASCII) into str.",
    docs="#the-request-line",
)
def test_request_line_is_split(request_module):
    """The request line splits into method, target and version"""
    for line, expected in [
        (b"GET / HTTP/1.1", ("GET", "/", "HTTP/1.1")),
        (b"POST /a/b?c=d HTTP/1.0", ("POST", "/a/b?c=d", "HTTP/1.0")),
        (b"DELETE /files/x%20y HTTP/1.1", ("DELETE", "/files/x%20y", "HTTP/1.1")),
    ]:
        got = call(request_module.parse_request_line, line)
        expect_equal(f"parse_request_line({short(line)})", got, expected, sent=line,
                     meaning="The target stays exactly as sent; decoding it is split_target's job.")


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
        (b"GET /a\nb HTTP/1.1", "a line feed inside the target would let it say two things"),
        (b"GET /caf\xe9 HTTP/1.1", "a target is ASCII: a client sends \u00e9 as %C3%A9, never as a raw byte"),
        (b"GET / HTTX/1.1", "the version is not HTTP/x.y"),
    ]:
        expect_refusal(request_module.HTTPError, parse, line, status=HTTPStatus.BAD_REQUEST, why=why)
    for line in (b"GET / HTTP/2.0", b"GET / HTTP/0.9"):
        expect_refusal(request_module.HTTPError, parse, line, status=HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
                       why="this server speaks only HTTP/1.0 and HTTP/1.1")


@pytest.mark.task(2)
@pytest.mark.hint(
    "line.partition(b':') splits at the first colon only; strip spaces and tabs around the value. "
    "Headers looks names up without regard to case and keeps repeated fields.",
    docs="#header-fields",
)
def test_headers_are_parsed(request_module):
    """Header names match in any case, values keep their own colons, repeated fields are all kept"""
    lines = [b"Host: localhost:8080", b"X-Thing: \t spaced value \t", b"Accept: a", b"accept: b", b"Empty:"]
    headers = call(request_module.parse_headers, lines)
    sent = b"\r\n".join(lines)
    expect_equal("headers['host'] (sent as Host: localhost:8080)", headers.get("host"), "localhost:8080", sent=sent,
                 meaning="Split at the first colon only: the value may contain more.")
    expect_equal("headers.get('x-thing')", headers.get("x-thing"), "spaced value", sent=sent,
                 meaning="Spaces and tabs around a value are not part of it.")
    expect_equal("headers.get_all('ACCEPT')", headers.get_all("ACCEPT"), ["a", "b"], sent=sent,
                 meaning="A field sent twice must not lose its first value.")
    expect_equal("headers.get('empty')", headers.get("empty"), "", sent=sent)


@pytest.mark.task(2)
@pytest.mark.hint(
    "A header name is a token: no spaces, so 'Host : x' and ' folded: x' are refused. "
    "Count the lines before parsing them: over MAX_HEADERS is 431.",
    docs="#header-fields",
)
def test_bad_header_lines_are_refused(request_module):
    """A header line without a colon, or with space before it, gets 400; over 100 headers gets 431"""
    parse = request_module.parse_headers
    for line, why in [
        (b"NoColonHere", "the line has no colon"),
        (b"Host : example.com", "whitespace before the colon is forbidden (RFC 9112, section 5.1)"),
        (b" folded: value", "a line may not start with whitespace (obsolete line folding)"),
        (b": no name", "the name is empty"),
    ]:
        expect_refusal(request_module.HTTPError, parse, [b"Host: x", line], status=HTTPStatus.BAD_REQUEST, why=why)
    many = [f"X-Header-{number}: {number}".encode() for number in range(101)]
    expect_refusal(request_module.HTTPError, parse, many, status=HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                   why="101 header fields are more than MAX_HEADERS (100)")


@pytest.mark.task(3)
@pytest.mark.hint(
    "urllib.parse.unquote decodes %XX in the path and leaves + alone; "
    "parse_qs(query, keep_blank_values=True) gives lists and keeps empty values.",
    docs="#path-and-query",
)
def test_target_is_split_into_path_and_query(request_module):
    """The path is percent-decoded (a + stays a +) and the query becomes lists of values"""
    for target, expected in [
        ("/", ("/", {})),
        ("/a%20b/c+d", ("/a b/c+d", {})),
        ("/caf%C3%A9?q=%26", ("/café", {"q": ["&"]})),
        ("/search?x=1&x=2&empty=&plus=a+b", ("/search", {"x": ["1", "2"], "empty": [""], "plus": ["a b"]})),
    ]:
        got = call(request_module.split_target, target)
        expect_equal(f"split_target({target!r})", got, expected,
                     meaning="In a path, + is a plus sign; only in a query string does it stand for a space.")


@pytest.mark.task(4)
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


@pytest.mark.task(4)
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


@pytest.mark.task(4)
@pytest.mark.hint(
    "Check the limits before waiting for more: no CRLF in the first MAX_REQUEST_LINE_BYTES is 414; "
    "no blank line in the first MAX_HEAD_BYTES is 431; a Content-Length over max_body is 413.",
    docs="#why-limits",
)
def test_limits_are_enforced(request_module):
    """Requests over the limits are refused early: 414, 431 and 413"""
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


@pytest.mark.task(4)
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
    expect_equal("the Content-Length lines", lengths, [b"Content-Length: 3"], sent=None,
                 meaning="Two Content-Length headers that disagree make the response unreadable (h11 refuses it).")
