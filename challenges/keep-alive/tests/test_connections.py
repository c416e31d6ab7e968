"""keep-alive — connections that carry many requests, over real sockets.

The server runs the demo site with the token "test-token" and a keep-alive timeout of half a
second. Every response is read by h11, a strict HTTP/1.1 library, in turn: framed by the method
of the request it answers, so a byte too many or too few shows up in the next response.
"""

import time

import pytest

from checks.conversation import converse, parse_responses
from checks.report import CheckFailed
from checks.unit import call
from checks.wire import ANSWER_TIMEOUT, connect

TOKEN = "test-token"

# Short enough that a check waits little for an idle connection to be closed; long enough for a busy machine.
KEEPALIVE_TIMEOUT = 0.5


@pytest.fixture
def start_site(start_server, step):
    """``start_site(**settings)``: the demo site, with HTTPServer settings such as ``max_requests=3``."""

    def start(**settings):
        options = {"app": {"token": TOKEN, "static_root": str(step.folder / "static")},
                   "keepalive_timeout": KEEPALIVE_TIMEOUT, **settings}
        return start_server(options)

    return start


@pytest.fixture
def site(start_site):
    return start_site()


def get(path, *fields, version="HTTP/1.1", method="GET"):
    lines = "".join(f"{field}\r\n" for field in fields)
    return f"{method} {path} {version}\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode()


def post_chunked(path, *chunks, trailer=b""):
    body = b"".join(b"%x\r\n%b\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n" + trailer + b"\r\n"
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode() + body


def expect_statuses(result, statuses, what):
    responses = result.expect_answers(len(statuses), what)
    got = [response.status for response in responses]
    if got != statuses:
        raise result.fail(f"The answers came back with the wrong statuses: {got}.", what)
    return responses


def expect_open(result, response_index, what):
    response = result.responses[response_index]
    if (response.header("connection") or "").lower() == "close":
        raise result.fail(f"Answer {response_index + 1} says Connection: close, but nothing asked for that.", what,
                          meaning="An HTTP/1.1 connection stays open after a response unless the client or "
                          "the server says Connection: close.")


@pytest.mark.task(7)
@pytest.mark.hint("handle_client loops: serve_one(...) again while it returns True, waiting for the next "
                  "request with wait_for_request() when nothing is buffered.", docs="#request-after-request")
def test_a_connection_carries_request_after_request(site):
    """Three requests, each sent when the answer before it came, all answered on one connection"""
    result = converse(site, [get("/about"), get("/api/data"), get("/user/ada")])
    what = "three answers on one connection: 200, 200, 200, and no Connection: close"
    if len(result.responses) < 3 and (result.closed or result.reset):
        raise result.fail(f"The server closed the connection after {len(result.responses)} answer(s).", what,
                          meaning="HTTP/1.1 connections are persistent by default (RFC 9112, section 9.3): "
                          "after a response, wait for the client's next request on the same connection.")
    responses = expect_statuses(result, [200, 200, 200], what)
    if responses[1].body == responses[0].body:
        raise result.fail("The second answer is the first one again: the about page, not /api/data.", what, todo=6,
                          meaning="The first request is still at the start of the buffer, so it is read again. "
                          "Once a request is parsed, take its bytes out: buffer[:used].")
    for index in range(3):
        expect_open(result, index, what)
    if b"Hello, ada!" not in result.responses[2].body:
        raise result.fail("The third answer is not the page for /user/ada.", what)


@pytest.mark.task(6, needs=(7,))
@pytest.mark.hint("When parse_request returns (request, used), delete only buffer[:used]: the bytes after "
                  "it are the next request, and must not be thrown away.", docs="#pipelining")
def test_pipelined_requests_are_answered_in_order(site, server_module):
    """Three requests sent in one write are all answered, in the order they were sent"""
    requests = [get("/user/first"), post_chunked("/api/echo", b"second"), get("/user/third")]
    result = converse(site, requests, pipelined=True)
    what = "three answers, in order: the page for first, the echo of second, the page for third"
    if len(result.responses) == 1 and (result.closed or result.timed_out) and leaves_the_rest(server_module):
        raise result.fail("Only the first of three requests sent together was answered, though read_request "
                          "leaves the next ones in the buffer.", what, todo=7,
                          meaning="handle_client waited for the client to send more before serving the request "
                          "already in the buffer, and the client was waiting for that answer: neither moved until "
                          "the keep-alive timeout. Wait for the next request only when the buffer is empty.")
    if len(result.responses) == 1 and (result.closed or result.timed_out):
        raise result.fail("Only the first of three requests sent together was answered.", what,
                          meaning="A client may send its next request before the answer to the last one "
                          "(pipelining). What follows a request in the bytes received is the start of the next: "
                          "keep it for the next read_request.")
    responses = expect_statuses(result, [200, 200, 200], what)
    bodies = [b"first" in responses[0].body, responses[1].body == b"second", b"third" in responses[2].body]
    if not all(bodies):
        raise result.fail("The answers are not in the order of the requests, or not theirs.", what)


def leaves_the_rest(server_module):
    """Whether read_request, given two requests in its buffer, returns the first and leaves the second there."""
    second = b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n"
    buffer = bytearray(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n" + second)

    class Silent:
        def recv(self, size):
            return b""  # everything there is to read is in the buffer already

    try:
        request = call(server_module.read_request, Silent(), buffer, shown="read_request(client, buffer)")
    except CheckFailed:
        return False
    return getattr(request, "path", None) == "/first" and bytes(buffer) == second


@pytest.mark.task(5, needs=(6, 7))
@pytest.mark.hint("keeps_open(request) is False when Connection lists close; the response then says "
                  "Connection: close and the server closes after sending it.", docs="#who-closes")
def test_connection_close_ends_the_connection(site):
    """A request with Connection: close gets its answer, marked close, and then the connection ends"""
    result = converse(site, [get("/about", "Connection: close"), get("/api/data")])
    what = "one answer with Connection: close, then the server closes; the second request is never answered"
    responses = result.expect_answers(1, what)
    if (responses[0].header("connection") or "").lower() != "close":
        raise result.fail("The answer to a request with Connection: close does not say Connection: close.", what,
                          meaning="Either side may end a connection by saying so; a server that was asked "
                          "to close says close too (RFC 9112, section 9.6).")
    if len(result.responses) > 1 or result.problem:
        raise result.fail("The connection went on after Connection: close.", what,
                          meaning="The client said this was its last request: close after answering it.")
    if not (result.closed or result.reset):
        raise result.fail("The server did not close the connection after Connection: close.", what)


@pytest.mark.task(5, needs=(3, 6, 7))
@pytest.mark.hint("HTTP/1.0 closes by default; only Connection: keep-alive keeps it open, and then the "
                  "answer says Connection: keep-alive.", docs="#who-closes")
def test_http_1_0_stays_open_only_when_asked(site):
    """HTTP/1.0 closes after each answer, unless it asked for keep-alive"""
    plain = converse(site, [get("/about", version="HTTP/1.0"), get("/api/data", version="HTTP/1.0")])
    what = "HTTP/1.0 without keep-alive: one answer, then the close"
    plain.expect_answers(1, what)
    if len(plain.responses) > 1 or not (plain.closed or plain.reset):
        raise plain.fail("An HTTP/1.0 connection stayed open, though the client did not ask for that.", what,
                         meaning="HTTP/1.0 connections close after each response unless the client sends "
                         "Connection: keep-alive (RFC 9112, section 9.3).")
    kept = converse(site, [get("/about", "Connection: keep-alive", version="HTTP/1.0"),
                           get("/api/data", "Connection: keep-alive", version="HTTP/1.0")])
    what = "two answers, each with Connection: keep-alive"
    responses = expect_statuses(kept, [200, 200], what)
    if (responses[0].header("connection") or "").lower() != "keep-alive":
        raise kept.fail("The answer to an HTTP/1.0 keep-alive request does not say Connection: keep-alive.", what,
                        meaning="An HTTP/1.0 client assumes the server will close; it waits for the next request "
                        "only if the answer says the connection stays open.")


@pytest.mark.task(7)
@pytest.mark.hint("Between requests, wait_for_request(client, buffer) waits keepalive_timeout seconds for the next "
                  "one; when it returns False, return from handle_client, which closes the connection.",
                  docs="#request-after-request")
def test_an_idle_connection_is_closed(site):
    """A connection that stays quiet after its answer is closed, without a word, after the keep-alive timeout; a new one gets the idle timeout"""
    wait = KEEPALIVE_TIMEOUT + ANSWER_TIMEOUT
    with connect(site) as conn:
        time.sleep(2 * KEEPALIVE_TIMEOUT)  # the client's own pacing: it connected, then took its time to ask
        received = bytearray()
        try:
            conn.sendall(get("/about"))
            conn.settimeout(wait)
            while chunk := conn.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionError):
            pass
    answers, problem = parse_responses(bytes(received), ["GET"], closed=True)
    if len(answers) != 1 or answers[0].status != 200:
        raise CheckFailed(f"A new connection whose first request came {2 * KEEPALIVE_TIMEOUT:g} s after it opened "
                          "got no answer.", sent=f"(nothing for {2 * KEEPALIVE_TIMEOUT:g} s) GET /about HTTP/1.1",
                          received=bytes(received).decode("latin-1") or "(nothing: the server had closed)",
                          expected="200, and the page: the first request has the idle timeout (10 s), as in step 2",
                          meaning="The keep-alive timeout is for the wait between requests (number > 1). Before "
                          "the first, the request deadlines of step 2 hold, and a client that says nothing at all "
                          "gets 408 after the idle timeout, not a silent close.")
    result = converse(site, [get("/about")])
    result.expect_answers(1, "an answer to GET /about")
    with connect(site) as conn:
        conn.sendall(get("/about"))
        received = bytearray()
        conn.settimeout(wait)
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except TimeoutError:
            raise CheckFailed(
                f"The connection was still open {wait:g} s after the answer, with no request since "
                f"(the keep-alive timeout is {KEEPALIVE_TIMEOUT:g} s).",
                sent="GET /about HTTP/1.1, then nothing", stuck=site.where_stuck(),
                expected=f"the server closes the connection after {KEEPALIVE_TIMEOUT:g} s of quiet",
                meaning="An idle connection holds a thread and a file descriptor: a server with many idle "
                "clients runs out of both. Close it when no request comes within keepalive_timeout.",
            ) from None
        except ConnectionResetError:
            pass
    answers, problem = parse_responses(bytes(received), ["GET", "GET"], closed=True)
    if len(answers) != 1 or problem:
        raise CheckFailed("The idle connection got more than its one answer before it closed.",
                          received=bytes(received).decode("latin-1"),
                          expected="the answer to GET /about, then the close, silently (no 408)",
                          meaning="Between requests, nothing is owed: close without a word (nginx does the same).")


@pytest.mark.task(7)
@pytest.mark.hint("Count the requests on a connection; serve_one(..., last=True) for the max_requests-th, "
                  "which then says Connection: close.", docs="#request-after-request")
def test_a_connection_carries_at_most_max_requests(start_site):
    """With max_requests=3, the third answer says Connection: close and the connection ends"""
    server = start_site(max_requests=3)
    result = converse(server, [get("/about") for _ in range(4)])
    what = "three answers, the third with Connection: close, then the close"
    responses = expect_statuses(result, [200, 200, 200], what)
    expect_open(result, 1, what)
    if (responses[2].header("connection") or "").lower() != "close" or len(result.responses) > 3:
        raise result.fail("The connection went on past max_requests.", what,
                          meaning="A cap on requests per connection stops one client from holding a thread for "
                          "ever; the answer to the last one allowed says Connection: close.")


@pytest.mark.task(3, needs=(4, 5, 6, 7))
@pytest.mark.hint("HEAD gets the head GET would get (chunked included) and no body; 204 and 304 get neither "
                  "Content-Length nor Transfer-Encoding, and no body, not even a last chunk.",
                  docs="#framing-each-response")
def test_head_204_and_304_leave_nothing_behind(site):
    """HEAD, 204 and 304 answers carry no body, so the next answer on the connection starts right after them"""
    first = converse(site, [get("/static/style.css")])
    tag = first.expect_answers(1, "GET /static/style.css")[0].header("etag")
    requests = [get("/api/countdown?from=3", method="HEAD"),
                get("/api/data", "Origin: https://elsewhere.example", "Access-Control-Request-Method: POST",
                    method="OPTIONS"),
                get("/static/style.css", f"If-None-Match: {tag}"),
                get("/api/countdown?from=2")]
    for pipelined in (False, True):
        result = converse(site, requests, pipelined=pipelined)
        what = "200 (HEAD, no body), 204, 304, then 200 with the countdown 2, 1, liftoff!"
        responses = expect_statuses(result, [200, 204, 304, 200], what)
        if responses[3].body != b"2\n1\nliftoff!\n":
            raise result.fail("The answer after HEAD, 204 and 304 is not the countdown.", what)
        if (responses[0].header("transfer-encoding") or "").lower() != "chunked":
            raise result.fail("HEAD /api/countdown does not say Transfer-Encoding: chunked, as GET does.", what,
                              meaning="A HEAD answer has the head GET would have: only the body is left out.")


@pytest.mark.task(4, needs=(3, 5, 6, 7))
@pytest.mark.hint("/api/countdown has no length: its body goes out in chunks to HTTP/1.1, and until the close "
                  "to HTTP/1.0.", docs="#sending-chunks")
def test_a_body_of_unknown_length_is_chunked_then_the_connection_goes_on(site):
    """The countdown goes out in chunks, and the connection carries the next request; HTTP/1.0 gets it until the close"""
    result = converse(site, [get("/api/countdown?from=3"), get("/api/countdown?from=1")])
    what = "two countdowns in chunks: 3, 2, 1, liftoff! and 1, liftoff!"
    responses = expect_statuses(result, [200, 200], what)
    if (responses[0].header("transfer-encoding") or "").lower() != "chunked" or responses[0].header("content-length"):
        raise result.fail("A body of unknown length did not go out chunked.", what,
                          meaning="Without a length, only chunks let the client know where the body ends and the "
                          "connection stay open.")
    if [response.body for response in responses] != [b"3\n2\n1\nliftoff!\n", b"1\nliftoff!\n"]:
        raise result.fail("The countdowns' bodies are not right.", what)
    old = converse(site, [get("/api/countdown?from=2", version="HTTP/1.0")])
    what = "the countdown with no Transfer-Encoding, then the close: HTTP/1.0 cannot read chunks"
    response = old.expect_answers(1, what)[0]
    if response.header("transfer-encoding") or response.body != b"2\n1\nliftoff!\n" or not old.closed:
        raise old.fail("An HTTP/1.0 client got a body of unknown length in a form it cannot read.", what,
                       meaning="HTTP/1.0 has no chunked coding: send the body as it is and close the connection "
                       "to mark its end.")


@pytest.mark.task(2, needs=(1, 3, 5, 6, 7))
@pytest.mark.hint("parse_request reads a chunked body with read_chunk; the echo answers with the decoded body.",
                  docs="#reading-a-chunk")
def test_a_chunked_upload_is_read_and_the_connection_goes_on(site):
    """A chunked POST, sent in pieces with a trailer, is echoed whole; the next request on the connection is answered"""
    upload = post_chunked("/api/echo", b"Hello, ", b"chunked world", trailer=b"X-Checksum: 1\r\n")
    result = converse(site, [upload, get("/about")])
    what = "the echo of Hello, chunked world, then the about page"
    responses = expect_statuses(result, [200, 200], what)
    if responses[0].body != b"Hello, chunked world":
        raise result.fail("The echo of the chunked upload is not its decoded body.", what)
    slow = converse(site, [upload.replace(b"Hello", b"Hallo"), get("/about")], pieces=6)
    what = "the echo of Hallo, chunked world, then the about page, each request sent in 6 pieces"
    responses = expect_statuses(slow, [200, 200], what)
    if responses[0].body != b"Hallo, chunked world":
        raise slow.fail("A chunked upload that arrived in pieces was not read right.", what)


SMUGGLED = get("/api/data", "X-Smuggled: yes")


@pytest.mark.task(1, needs=(2, 3, 5, 6, 7))
@pytest.mark.hint("body_framing refuses every ambiguous framing with 400; the server then closes, so the bytes "
                  "after the refused head are never read as a request.", docs="#one-framing-or-none")
@pytest.mark.parametrize("framing", [
    b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
    b"Content-Length: 0\r\nContent-Length: 41\r\n\r\n",
    b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
    b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
], ids=["CL and TE", "TE and CL", "two lengths", "chunked, identity", "chunked not last", "xchunked"])
def test_no_request_can_be_smuggled_past_the_framing(site, framing):
    """A request framed two ways gets 400 and the close: the request hidden behind it is never answered"""
    data = b"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n" + framing + SMUGGLED
    result = converse(site, [data, get("/about")], pipelined=True)
    what = "400 Bad Request with Connection: close, then the close: nothing for the request behind it"
    response = result.expect_answers(1, what)[0]
    if response.status != 400:
        raise result.fail(f"A request framed two ways got {response.status}, not 400.", what,
                          meaning="When two framings disagree, a proxy in front may read one and this server the "
                          "other: the bytes in between become a request the proxy never saw (request smuggling).")
    if len(result.responses) > 1 or result.problem or b"X-Smuggled" in result.received or not result.closed:
        raise result.fail("After refusing the framing, the server went on reading the connection.", what,
                          meaning="Once the framing is in doubt, so is where the next request starts: answer 400, "
                          "say Connection: close, and close.")


@pytest.mark.task(6, needs=(1, 2, 3, 5, 7))
@pytest.mark.hint("read_request passes its max_body on to parse_request: the server's limit, not the default.",
                  docs="#pipelining")
def test_the_servers_body_limit_holds_for_every_framing(start_site):
    """With max_body=100, a longer body gets 413 and the close, whether framed by length or by chunks"""
    server = start_site(max_body=100)
    head = f"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n".encode()
    for what, data in [("Content-Length: 200", head + b"Content-Length: 200\r\n\r\n" + b"a" * 200),
                       ("two chunks of 80 bytes", head + b"Transfer-Encoding: chunked\r\n\r\n"
                        + b"50\r\n" + b"b" * 80 + b"\r\n50\r\n" + b"c" * 80 + b"\r\n0\r\n\r\n")]:
        result = converse(server, [data, get("/about")], pipelined=True)
        expected = f"413 Content Too Large ({what}), then the close"
        response = result.expect_answers(1, expected)[0]
        if response.status != 413 or len(result.responses) > 1:
            raise result.fail(f"A body over the server's max_body of 100 bytes ({what}) got {response.status}.",
                              expected, meaning="HTTPServer(max_body=...) sets the limit: parse_request must be "
                              "given it, or it falls back to its own default of 1 MiB.")


BAD_CHUNKS = [(b"5\r\nhello0\r\n\r\n", "no CRLF after the data"), (b"zz\r\nhello\r\n0\r\n\r\n", "a size that is not hex"),
              (b"3\r\nhello\r\n0\r\n\r\n", "a size too small for the data"), (b"5\nhello\r\n0\r\n\r\n", "a lone LF")]


@pytest.mark.task(2, needs=(1, 3, 5, 6, 7))
@pytest.mark.hint("A size line that is not hex, or data not followed by CRLF where the size says, is 400; the "
                  "server then closes.", docs="#reading-a-chunk")
def test_a_bad_chunk_ends_the_connection(site):
    """A malformed chunk gets 400 and the close: nothing after it is read as a request"""
    for chunks, what in BAD_CHUNKS:
        data = (f"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks + SMUGGLED
        result = converse(site, [data], pipelined=True)
        expected = f"400 Bad Request ({what}), then the close"
        response = result.expect_answers(1, expected)[0]
        if response.status != 400 or len(result.responses) > 1 or b"X-Smuggled" in result.received:
            raise result.fail(f"A malformed chunk ({what}) got {response.status}, and the connection went on."
                              if response.status == 400 else f"A malformed chunk ({what}) got {response.status}, "
                              "not 400.", expected,
                              meaning="A chunk's size says exactly where its data ends; if the bytes disagree, "
                              "where the next request starts is unknown: refuse, and close.")


@pytest.mark.task(7)
@pytest.mark.hint("A client may vanish at any moment; serve_one returns False then, and handle_client returns.",
                  docs="#request-after-request")
def test_a_client_that_leaves_mid_stream_harms_nobody(site):
    """Clients that close mid-request or mid-answer leave the server serving others, with no error"""
    errors_before = len(site.thread_errors)
    with connect(site) as conn:
        conn.sendall(get("/about") + b"GET /api/da")  # one whole request, half of the next; then gone
        conn.recv(1)
    with connect(site) as conn:
        conn.sendall(get("/api/countdown?from=1000"))  # a long chunked answer we stop reading
        conn.recv(1)
    result = converse(site, [get("/about"), get("/api/data")])
    what = "two answers on a new connection, and no error in the server"
    expect_statuses(result, [200, 200], what)
    if site.wait_for_thread_error(errors_before, 0.5) is not None:
        raise result.fail("A client that left early made an error end a thread of your server.", what,
                          detail=site.thread_error_text(errors_before),
                          meaning="Leaving is the client's right: catch ConnectionError, and stop serving it.")
