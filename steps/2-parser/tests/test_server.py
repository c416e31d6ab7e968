"""Step 2 — parser: checks over real connections, with requests and with raw bytes.

Your server runs in its own process on a free port. Every response is read by
h11, a strict HTTP/1.1 parser, and must carry a correct status line, Date and
Connection: close. After every bad request, a good one must still be answered.
"""

import hashlib
import importlib.util
import json
import random
import socket
import sys
from pathlib import Path

import pytest
from hypothesis import example, given

from checks.expect import expect_response
from checks.properties import course_settings
from checks.report import CheckFailed, visible
from checks.unit import call, expect_equal, short
from checks.wire import Exchange, connect, exchange, fetch, get_request, read_until_closed


def sibling(name):
    """This folder's ``name``.py, which is not a check (pytest imports checks without their folder on sys.path)."""
    key = f"step2_checks_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        sys.modules[key] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[key])
    return sys.modules[key]


grammar = sibling("grammar")


def post(path, body, extra=b""):
    return b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n%s\r\n" % (path, len(body), extra) + body


def still_serving(server):
    """After a refusal the server must still answer a normal request."""
    after = exchange(server, get_request("/"))
    if not after.received:
        raise after.fail("After refusing a bad request, your server did not answer the next one.",
                         "the server to keep serving other clients")
    expect_response(after, 200)


class ScriptedClient:
    """A stand-in for a client's socket: recv() hands out the scripted pieces, then ``then``.

    ``then`` is b"" (the client closed its side: every later recv() returns b"") or an
    exception to raise, such as TimeoutError (the client went quiet).
    """

    def __init__(self, pieces, then=b""):
        self.pieces = list(pieces)
        self.then = then

    def recv(self, size, flags=0):
        if self.pieces:
            piece = self.pieces.pop(0)
            if len(piece) > size:
                self.pieces.insert(0, piece[size:])
            return piece[:size]
        if isinstance(self.then, BaseException):
            # A new exception each time: raising one instance again and again grows its traceback without end.
            raise type(self.then)(*self.then.args)
        return b""

    def recv_into(self, buffer, size=0, flags=0):
        data = self.recv(size or len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def settimeout(self, seconds):
        pass

    def gettimeout(self):
        return 10.0

    @staticmethod
    def describe(pieces, then):
        shown = ", then ".join(short(piece, 60) for piece in pieces)
        ending = "recv() returns b\"\" (the client closed its side)" if then == b"" else \
            f"recv() raises {type(then).__name__} (the client went quiet)"
        return f"recv() returns {shown}; then {ending}" if pieces else ending


HEAD_WITH_BODY = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"


@pytest.mark.task(6, needs=(1, 2, 3, 4))
@pytest.mark.hint(
    "Loop: ask parse_request(received, max_body), else recv() more. recv() returning b\"\" means the client "
    "left: None if nothing came at all, HTTPError 400 if part of a request came. Let TimeoutError through.",
    docs="#reading-a-whole-request",
)
def test_read_request_keeps_its_contract(learner_module):
    """read_request returns the request, None for a client that sent nothing, and 400 for one that left halfway"""
    server_module = learner_module("server")
    read_request, HTTPError = server_module.read_request, server_module.HTTPError
    cases = [
        ([b"PO", b"ST /echo HTTP/1.1\r\nHost: x\r\nContent-Len", b"gth: 5\r\n\r", b"\nhel", b"lo"], b"", {},
         "the request, with body b'hello'", "request"),
        ([], b"", {}, "None: the client left without sending anything", None),
        ([b"GET / HT"], b"", {}, "HTTPError 400: the client left in the middle of the request line", 400),
        ([b"GET / HTTP/1.1\r\nHost: x\r\n"], b"", {}, "HTTPError 400: the client left before the head ended", 400),
        ([HEAD_WITH_BODY], b"", {}, "HTTPError 400: the client left before sending the body it announced", 400),
        ([HEAD_WITH_BODY + b"he"], b"", {}, "HTTPError 400: the client left in the middle of the body", 400),
        ([HEAD_WITH_BODY + b"he"], TimeoutError("timed out"), {},
         "TimeoutError, let through to handle_client (which answers 408)", TimeoutError),
        ([b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n"], b"", {"max_body": 10},
         "HTTPError 413: max_body (10) passed on to parse_request", 413),
    ]
    for pieces, then, options, expected, want in cases:
        sent = ScriptedClient.describe(pieces, then) + (f"\n(read_request(client, max_body={options['max_body']}))"
                                                        if options else "")
        client = ScriptedClient(pieces, then)
        try:
            got = call(read_request, client, shown="read_request(client)", expected_errors=(HTTPError, TimeoutError),
                       **options)
        except HTTPError as refusal:
            status = getattr(refusal, "status", None)
            if status == want or (want is TimeoutError and status == 408):
                continue
            raise CheckFailed("read_request refused, but not as it should.", sent=sent, expected=expected,
                              received=f"HTTPError with status {status!r}: {refusal}",
                              meaning=meaning_of(want)) from None
        except TimeoutError:
            if want is TimeoutError:
                continue
            raise CheckFailed("read_request let a TimeoutError out where it should not.", sent=sent,
                              expected=expected, received="TimeoutError") from None
        if want == "request" and getattr(got, "body", None) == b"hello" and getattr(got, "method", None) == "POST":
            continue
        if want is None and got is None:
            continue
        raise CheckFailed("read_request did not keep its contract.", sent=sent, expected=expected,
                          received=f"it returned {short(got, 200)}", meaning=meaning_of(want))


def meaning_of(want):
    if want == 400:
        return ("A client that closes its side halfway will never finish its request. Returning None would "
                "say \"nobody asked anything\" and send no answer at all: raise HTTPError(400, ...) instead.")
    if want is None:
        return "recv() returning b\"\" before any byte means the client left (a browser's spare connection)."
    if want is TimeoutError:
        return "handle_client() answers a TimeoutError with 408: do not catch it, and do not wait again."
    if want == 413:
        return "read_request(client, max_body) must pass max_body on: parse_request(received, max_body)."
    return "Keep every byte received so far, and ask parse_request again after each recv()."


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5, 7))
@pytest.mark.hint(
    "read_request must keep calling recv() until parse_request returns a request: a 100 KB body "
    "arrives in many pieces.",
    docs="#reading-a-whole-request",
)
def test_large_body_arrives_whole(server):
    """A 100 KB body sent in pieces comes back exactly (same SHA-256)"""
    body = random.Random(2).randbytes(100_000)
    result = exchange(server, post(b"/echo", body), pieces=25, pause=0.01)
    response = expect_response(result, 200)
    if response.body != body:
        raise CheckFailed(
            "The body that came back from /echo is not the body that was sent.",
            expected=f"{len(body)} bytes, SHA-256 {hashlib.sha256(body).hexdigest()[:16]}…",
            received=f"{len(response.body)} bytes, SHA-256 {hashlib.sha256(response.body).hexdigest()[:16]}…",
            meaning="The body must be read to exactly Content-Length bytes, across as many recv() calls as it takes.",
        )


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5, 7))
@pytest.mark.hint("Bytes stay bytes: never decode a body.", docs="#reading-a-whole-request")
def test_binary_body_arrives_intact(server):
    """A binary body with bytes that are not UTF-8 arrives intact"""
    body = bytes(range(256)) * 4
    response = fetch(server, "POST", "/echo", data=body, headers={"Content-Type": "application/octet-stream"})
    if response.status_code != 200 or response.content != body:
        raise CheckFailed(
            "POST /echo with a binary body did not come back unchanged.",
            expected=f"status 200 and the same {len(body)} bytes (all 256 byte values, four times)",
            received=f"status {response.status_code}, {len(response.content)} bytes: {response.content[:60]!r}…",
            meaning="Decoding the body as text breaks on bytes like \\xff; a body is bytes.",
            server_output=server.output(),
        )


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5, 7))
@pytest.mark.hint(
    "A head may arrive one byte per recv(). Keep everything received so far and ask parse_request again.",
    docs="#reading-a-whole-request",
)
def test_head_sent_one_byte_at_a_time(server):
    """A request head sent one byte at a time is answered"""
    request = b"GET /one/byte HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n"
    result = exchange(server, request, pieces=len(request), pause=0.002)
    response = expect_response(result, 200)
    facts = json.loads(response.body)
    expect_equal("the path the server saw", facts.get("path"), "/one/byte", sent=request)


@pytest.mark.task(3, needs=(1, 2, 4, 5, 6, 7))
@pytest.mark.hint(
    "The demo handler shows what your parser made of the request: path decoded, query as lists, "
    "header values whole.",
    docs="#path-and-query",
)
def test_requests_sees_its_request_described(server):
    """requests gets its request described back: path decoded, query as lists, Host kept whole"""
    response = fetch(server, "GET", "/caf%C3%A9/a+b?x=1&x=2&empty=",
                     headers={"Accept": "application/json", "X-Colons": "a:b:c"})
    if response.status_code != 200:
        raise CheckFailed("The demo page did not answer 200.", received=f"{response.status_code} {response.text[:300]}",
                          server_output=server.output())
    facts = response.json()
    headers = {name.lower(): value for name, value in facts["headers"]}
    expect_equal("the path", facts["path"], "/café/a+b")
    expect_equal("the query parameters", facts["query_params"], {"x": ["1", "2"], "empty": [""]})
    expect_equal("the Host header", headers.get("host"), f"127.0.0.1:{server.port}",
                 meaning="Split a header line at its first colon only.")
    expect_equal("the X-Colons header", headers.get("x-colons"), "a:b:c")


def bad_request(data, status, parsed_by, case, options=None):
    """A case of the check below. The parser's own checks grade what TODO ``parsed_by`` refuses;
    this one grades read_request (TODO 6), which must let that refusal reach the client."""
    return pytest.param(data, status, options or {}, marks=pytest.mark.task(6, needs=(parsed_by, 5)), id=case)


BAD_REQUESTS = [
    bad_request(b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, 1, "a method that is not a token gets 400"),
    bad_request(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, 1, "an unsupported version gets 505"),
    bad_request(b"GET  /two/spaces HTTP/1.1\r\nHost: x\r\n\r\n", 400, 1, "two spaces in the request line get 400"),
    bad_request(b"GET / HTTP/1.1\r\nHost: x\r\nJust words\r\n\r\n", 400, 2, "a header line without a colon gets 400"),
    bad_request(b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(101)) + b"\r\n", 431, 2,
                "more than 100 headers get 431"),
    bad_request(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, 4, "a request line over 8 KiB gets 414"),
    bad_request(b"GET / HTTP/1.1\r\n" + b"X-Big: %s\r\n" % (b"b" * 1000) * 70 + b"\r\n", 431, 4,
                "a head over 64 KiB gets 431"),
    bad_request(post(b"/echo", b"x" * 5000), 413, 4, "a body over the server's limit gets 413", {"max_body": 1000}),
    bad_request(post(b"/echo", b"hello", b"Transfer-Encoding: chunked\r\n"), 400, 4,
                "Content-Length with Transfer-Encoding gets 400"),
    bad_request(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: five\r\n\r\nhello", 400, 4,
                "a Content-Length that is not a number gets 400"),
    bad_request(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, 4, "an HTTP/1.1 request without Host gets 400"),
    bad_request(b"GET / HTTP/1.1\nHost: x\n\n", 400, 4,
                "lines ended by a lone LF get 400 at once, not 408 after the timeout"),
]


@pytest.mark.parametrize("data, status, options", BAD_REQUESTS)
@pytest.mark.hint(
    "Raise HTTPError(status, why) where the problem is found; handle_client turns it into a response. "
    "Never let a bad request crash the thread: the client would get nothing.",
    docs="#when-the-request-is-bad",
)
def test_bad_request_is_answered_with_its_status(start_server, data, status, options):
    """A bad request is answered with its status, and the server keeps serving"""
    server = start_server(options)
    result = exchange(server, data)
    expect_response(result, status)
    still_serving(server)


@pytest.mark.task(7, needs=(1, 2, 3, 4, 5, 6))
@pytest.mark.hint(
    "Wrap the handler call in try/except Exception; log the traceback (logging.exception) and "
    "return a short 500 page that reveals nothing.",
    docs="#when-the-handler-fails",
)
def test_handler_error_gives_a_plain_500(server):
    """A handler that raises gets a 500 page without the traceback, and the server keeps serving"""
    result = exchange(server, get_request("/error"))
    if not result.received:
        raise result.fail("GET /error got no response at all.", "a 500 Internal Server Error page",
                          meaning="The handler's exception ended the thread before anything was sent.")
    response = expect_response(result, 500)
    leaked = [word for word in ("Traceback", "RuntimeError", "on purpose") if word.encode() in response.body]
    if leaked:
        raise result.fail("The 500 page shows the error's details to the client.",
                          "a short page that reveals nothing about the code",
                          meaning=f"It contains {leaked}. Tracebacks can reveal code, paths and secrets: "
                          "they belong in the server's log.")
    log = server.output()
    if "Traceback" not in log or "on purpose" not in log or "--- Logging error ---" in log:
        raise result.fail("The handler's error is not in the server's log with its traceback.",
                          "the traceback of the RuntimeError, written by logging.exception() in the except block",
                          meaning="The client is told nothing, so the log is the only place the error is kept: "
                          "without it nobody can find the bug. '--- Logging error ---' means the message's %s "
                          "placeholders and its arguments do not match.")
    still_serving(server)


# Requests a client stops sending partway: in the request line, in the headers, right after the head
# (the body announced but not sent), and in the middle of the body.
PARTIAL_REQUESTS = [
    (b"GET /stopped HT", "in the middle of the request line"),
    (b"GET /stopped HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n", "before the blank line that ends the head"),
    (post(b"/echo", b"x" * 100)[:-100], "after the head, before any of the 100 body bytes it announced"),
    (post(b"/echo", b"x" * 100)[:-90], "after 10 of the 100 body bytes it announced"),
]


def start_partial_requests(server, shut_write):
    """Send each partial request on its own connection, all at once; close our side if ``shut_write``."""
    started = []
    for data, where in PARTIAL_REQUESTS:
        conn = connect(server)
        result = Exchange(server=server, sent=data)
        conn.sendall(data)
        if shut_write:
            conn.shutdown(socket.SHUT_WR)
        started.append((conn, result, where))
    return started


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5))
@pytest.mark.hint(
    "recv() raises TimeoutError when the client goes quiet; let it reach handle_client, which answers 408 "
    "and closes. Do not catch it in read_request (not to wait again, not to return None).",
    docs="#reading-a-whole-request",
)
def test_client_that_goes_quiet_gets_408(start_server):
    """A client that goes quiet partway through its request gets 408 Request Timeout after the idle timeout"""
    idle_timeout, patience = 0.5, 5.0
    server = start_server({"idle_timeout": idle_timeout})
    started = start_partial_requests(server, shut_write=False)  # all four wait at the same time
    try:
        for conn, result, where in started:
            read_until_closed(conn, result, patience)
            if result.timed_out and not result.received:
                raise result.fail(
                    f"The client went quiet {where}, and the server was still waiting {patience:g} s later.",
                    f"408 Request Timeout about {idle_timeout:g} s after the client went quiet, then the connection "
                    f"closed (HTTPServer(..., idle_timeout={idle_timeout}))",
                    meaning="A thread waiting forever for bytes that never come is a thread lost.")
            if not result.received:
                raise result.fail(
                    f"The client went quiet {where}, and the server hung up without a word.",
                    "HTTP/1.1 408 Request Timeout, then the connection closed",
                    meaning="The client may still be there, waiting: tell it why it is being cut off. "
                    "handle_client() answers a TimeoutError with 408, if read_request() lets it through.")
            expect_response(result, 408)
    finally:
        for conn, _, _ in started:
            conn.close()
    still_serving(server)


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5))
@pytest.mark.hint(
    "When recv() returns b\"\" after part of a request, the client has given up: raise HTTPError(400, ...). "
    "Return None only when nothing at all came.",
    docs="#reading-a-whole-request",
)
def test_request_abandoned_halfway_gets_400(server):
    """A client that closes its side partway through its request gets 400 Bad Request"""
    started = start_partial_requests(server, shut_write=True)
    try:
        for conn, result, where in started:
            read_until_closed(conn, result, 3.0)
            if not result.received:
                raise result.fail(
                    f"The client stopped {where} and closed its side; the server answered nothing.",
                    "HTTP/1.1 400 Bad Request: the request ended before it was complete",
                    meaning="recv() returning b\"\" after part of a request means that request will never be "
                    "complete. The client can still read: raise HTTPError(400, ...) and handle_client() answers.")
            expect_response(result, 400)
    finally:
        for conn, _, _ in started:
            conn.close()
    still_serving(server)


# Pinned cuts: inside the blank line, after the first body byte, inside the é; inside the ë of a header value,
# then between the last \r and \n of the head.
BODY_PIN = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\ncaf\xc3\xa9!"
HEAD_PIN = b"GET /caf%C3%A9 HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nX-Name: Zo\xc3\xab\r\n\r\n"


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5, 7))
@pytest.mark.hint(
    "Keep every byte received in one bytearray and ask parse_request about all of it after each recv(): "
    "a piece may end anywhere, even inside \\r\\n\\r\\n or inside a character. Never decode a piece.",
    docs="#reading-a-whole-request",
)
def test_request_in_any_pieces_gets_the_same_answer(server, learner_module):
    """A request cut into pieces anywhere (inside \\r\\n\\r\\n, a character, the body) is answered as if sent whole"""
    grammar.run_property(same_answer_in_pieces, server, learner_module)


# Each example is one connection. A failing one can wait up to ANSWER_TIMEOUT for an answer that never
# comes, so the property does not shrink (shrinking would send dozens more): the cuts are shown instead.
@course_settings(max_examples=12, shrink=False)
@given(pieces=grammar.demo_requests())
@example(pieces=grammar.Pieces(BODY_PIN, (BODY_PIN.find(b"\r\n\r\n") + 2, len(BODY_PIN) - 5, BODY_PIN.find(b"\xa9"))))
@example(pieces=grammar.Pieces(HEAD_PIN, (HEAD_PIN.find(b"\xab"), HEAD_PIN.find(b"\r\n\r\n") + 3)))
def same_answer_in_pieces(server, learner_module, pieces):
    result = exchange(server, pieces.data, split_at=list(pieces.cuts), pause=0.01)
    status, body, how = answer_when_whole(server, learner_module, pieces.data)
    received = result.response(f"the answer the request gets when sent whole: {status} {how}")
    if received.status != status or received.body != body:
        failure = result.fail(
            "Sent in pieces, this request got another answer than when it is sent whole.",
            f"{status}, with a body of {len(body)} bytes: {visible(body, 120)}",
            meaning="read_request must keep every byte received so far and ask parse_request again after "
            "each recv(): a piece can end anywhere, inside the blank line or inside a character of two bytes. "
            "Decoding a piece, or looking for \\r\\n\\r\\n in the last piece only, breaks on some cut.",
        )
        failure.reproduce = send_in_pieces(pieces)
        raise failure


def send_in_pieces(pieces):
    """A command that sends the same pieces, a moment apart, to a server on port 8080 and prints the answer."""
    bounds = [0, *pieces.cuts, len(pieces.data)]
    hexes = ", ".join(f'"{pieces.data[start:end].hex()}"' for start, end in zip(bounds, bounds[1:]))
    code = ('import socket, time; s = socket.create_connection(("127.0.0.1", 8080)); '
            f"[(s.sendall(bytes.fromhex(piece)), time.sleep(0.05)) for piece in [{hexes}]]; "
            'print(b"".join(iter(lambda: s.recv(65536), b"")).decode("latin-1"))')
    return f"python3 -c '{code}'\n(start your server first, in another terminal: make serve STEP=2)"


def answer_when_whole(server, learner_module, data):
    """(status, body, how it was found) the request gets when sent whole.

    Worked out here, with your own parse_request and the demo handler, without a second connection;
    if your parser cannot read the whole request, by sending it whole.
    """
    server_module = learner_module("server")
    try:
        parsed = server_module.parse_request(data, server_module.MAX_BODY_BYTES)
        response = server_module.describe_request(parsed[0])
        return response.status, response.body, "(your parse_request and the demo handler, on the whole request)"
    except Exception:
        whole = exchange(server, data)
        answer = whole.response("a complete response to the request, sent whole")
        return answer.status, answer.body, "(the answer your server gave it, sent whole)"
