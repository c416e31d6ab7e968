"""Step 2 — parser: checks over real connections, with requests and with raw bytes.

Your server runs in its own process on a free port. Every response is read by
h11, a strict HTTP/1.1 parser, and must carry a correct status line, Date and
Connection: close. After every bad request, a good one must still be answered.
"""

import hashlib
import json
import random

import pytest

from checks.expect import expect_response
from checks.report import CheckFailed
from checks.unit import expect_equal
from checks.wire import exchange, fetch, get_request


def post(path, body, extra=b""):
    return b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n%s\r\n" % (path, len(body), extra) + body


def still_serving(server):
    """After a refusal the server must still answer a normal request."""
    after = exchange(server, get_request("/"))
    if not after.received:
        raise after.fail("After refusing a bad request, your server did not answer the next one.",
                         "the server to keep serving other clients")
    expect_response(after, 200)


@pytest.mark.task(6)
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


@pytest.mark.task(6)
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


@pytest.mark.task(6)
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


@pytest.mark.task(3)
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


BAD_REQUESTS = [
    pytest.param(b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, {}, marks=pytest.mark.task(1),
                 id="a method that is not a token gets 400"),
    pytest.param(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, {}, marks=pytest.mark.task(1),
                 id="an unsupported version gets 505"),
    pytest.param(b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, {}, marks=pytest.mark.task(2),
                 id="a header line without a colon gets 400"),
    pytest.param(b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(101)) + b"\r\n", 431, {},
                 marks=pytest.mark.task(2), id="more than 100 headers get 431"),
    pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, {}, marks=pytest.mark.task(4),
                 id="a request line over 8 KiB gets 414"),
    pytest.param(b"GET / HTTP/1.1\r\n" + b"X-Big: %s\r\n" % (b"b" * 1000) * 70 + b"\r\n", 431, {},
                 marks=pytest.mark.task(4), id="a head over 64 KiB gets 431"),
    pytest.param(post(b"/echo", b"x" * 5000), 413, {"max_body": 1000}, marks=pytest.mark.task(4),
                 id="a body over the server's limit gets 413"),
    pytest.param(post(b"/echo", b"hello", b"Transfer-Encoding: chunked\r\n"), 400, {}, marks=pytest.mark.task(4),
                 id="Content-Length with Transfer-Encoding gets 400"),
    pytest.param(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: five\r\n\r\nhello", 400, {},
                 marks=pytest.mark.task(4), id="a Content-Length that is not a number gets 400"),
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


@pytest.mark.task(7)
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
    still_serving(server)


@pytest.mark.task(6)
@pytest.mark.hint(
    "recv() raises TimeoutError when the client goes quiet; let it reach handle_client (which closes "
    "the connection) instead of waiting again.",
    docs="#reading-a-whole-request",
)
def test_client_that_stops_mid_body_is_disconnected(start_server):
    """A client that stops in the middle of its body is disconnected after the idle timeout"""
    server = start_server({"idle_timeout": 0.5})
    partial = post(b"/echo", b"x" * 100)[:-90]
    result = exchange(server, partial, timeout=5.0)
    if result.timed_out:
        raise result.fail("The server was still waiting for the rest of the body after 5 s.",
                          "the server to give up about 0.5 s after the client went quiet, and close",
                          meaning="A thread waiting forever for a body that never comes is a thread lost.")
    if result.received:
        expect_response(result, 408)
    still_serving(server)
