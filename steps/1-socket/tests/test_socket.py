"""Step 1 — socket: the graded checks.

Every check talks to your server over a real TCP connection on 127.0.0.1.
Your server runs in a separate process on a free port (port 0), so a hang
cannot freeze the checks: after a few seconds they say where it was stuck.
"""

import selectors
import socket
import time

import pytest

from checks.launch import SHUTDOWN_GRACE_SECONDS
from checks.report import CheckFailed, caret_diff
from checks.wire import ANSWER_TIMEOUT, Exchange, connect, exchange, fetch, get_request, read_until_closed

# The heading of the step's page, as a client should decode it.
HEADING = "Hello from your own server — it works!"

# What a browser sends, roughly: enough headers to make the head a realistic size.
BROWSER_REQUEST = (
    b"GET / HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\n"
    b"User-Agent: course-checks/1.0\r\n"
    b"Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en\r\n"
    b"\r\n"
)

STATUS_LINE = b"HTTP/1.1 200 OK\r\n"


def expect_page(result, summary_prefix=""):
    """The response of ``result`` must be a complete, correctly framed 200 page."""
    expected = "HTTP/1.1 200 OK, then headers including Content-Length and Connection: close, then the page"
    response = result.response(expected)
    if not result.received.startswith(STATUS_LINE):
        raise result.fail(
            f"{summary_prefix}The status line is not HTTP/1.1 200 OK.",
            expected,
            detail=caret_diff(STATUS_LINE, result.received),
        )
    if b"\n" in response.raw_head.replace(b"\r\n", b""):
        raise result.fail(
            f"{summary_prefix}A line of the response head ends with \\n alone.",
            "every line of the head to end with \\r\\n (carriage return, line feed)",
        )
    return response


@pytest.mark.task(5)
@pytest.mark.hint(
    "Build the head around the body's bytes: Content-Length is len(body_bytes), "
    "and the head ends with one empty line (\\r\\n\\r\\n).",
    docs="#writing-the-response",
)
def test_get_root_returns_the_page(server):
    """GET / is answered with 200 OK, a body exactly Content-Length bytes long, and Connection: close"""
    result = exchange(server, get_request("/"))
    response = expect_page(result)
    length = response.header("content-length")
    body_after_head = len(result.received) - len(response.raw_head)
    if length is None:
        raise result.fail("The response has no Content-Length header.", "a Content-Length header giving the body's size in bytes")
    if not length.isdigit() or int(length) != body_after_head:
        raise result.fail(
            f"Content-Length says {length}, but {body_after_head} bytes came after the head.",
            f"Content-Length: {body_after_head}",
            meaning="Content-Length counts bytes. The page has an em dash (—): one character, "
            "three bytes in UTF-8. Encode the body first, then measure the bytes.",
        )
    connection = (response.header("connection") or "").lower()
    if "close" not in [token.strip() for token in connection.split(",")]:
        raise result.fail(
            "The response does not say Connection: close.",
            "a Connection: close header, because the server closes after one response",
            meaning="HTTP/1.1 keeps connections open unless told otherwise. A client that is "
            "not told may try to reuse a connection your server already closed.",
        )


@pytest.mark.task(5)
@pytest.mark.hint(
    "Clients that don't read HTML (requests, curl, scripts) learn the text's encoding only from "
    "the header: Content-Type: text/html; charset=utf-8.",
    docs="#writing-the-response",
)
def test_requests_can_fetch_the_page(server):
    """A real HTTP client (requests) can fetch the page"""
    response = fetch(server, "GET", "/")
    if response.status_code != 200 or HEADING not in response.text:
        raise CheckFailed(
            "requests got a response, but not the page as it should read.",
            expected=f"status 200 and a body containing: {HEADING}",
            received=f"status {response.status_code}, Content-Type: {response.headers.get('Content-Type')!r}, "
            f"body decoded as {response.encoding}:\n{response.text[:300]}",
            meaning="If the dash came out as 'â€”', the body's bytes were decoded with the wrong "
            "character set: the Content-Type header did not name UTF-8.",
            reproduce="curl -v http://127.0.0.1:8080/   (after: make serve STEP=1)",
        )


@pytest.mark.task(4)
@pytest.mark.hint(
    "One recv() returns whatever has arrived so far, which may be a few bytes. "
    "Keep calling recv() and collecting until the bytes contain \\r\\n\\r\\n.",
    docs="#reading-until-the-blank-line",
)
def test_head_in_small_pieces_is_answered(server):
    """A request head that arrives in small pieces is still answered"""
    pieces = len(BROWSER_REQUEST) // 6
    result = exchange(server, BROWSER_REQUEST, pieces=pieces, pause=0.03)
    if result.answered_early is not None:
        raise result.fail(
            f"Your server answered after only {result.answered_early} of the "
            f"{len(BROWSER_REQUEST)} bytes of the request had been sent.",
            "no answer until the head's final blank line (\\r\\n\\r\\n) has arrived",
            meaning="It answered what one recv() returned, not the whole head. On a real "
            "network a request often arrives in pieces.",
        )
    expect_page(result)


@pytest.mark.task(3)
@pytest.mark.hint(
    "Serve one request per connection, then close it: `with client:` closes it however "
    "handle_client ends.",
    docs="#closing-the-connection",
)
def test_server_closes_after_responding(server):
    """The server closes the connection after responding"""
    result = exchange(server, get_request("/"))
    expect_page(result)
    if not result.closed:
        raise result.fail(
            f"The response arrived, but the connection was still open {result.timeout:g} s later.",
            "the server to close the connection right after the response (it said Connection: close)",
            meaning="A client reading until the connection ends (as HTTP/1.0 clients do) waits "
            "forever. After sending the response, handle_client should close the socket.",
        )


@pytest.mark.task(2)
@pytest.mark.hint(
    "If serve_forever() calls handle_client() itself, the next accept() waits until that "
    "client is done. Start a threading.Thread for each client instead.",
    docs="#one-thread-per-client",
)
def test_silent_client_does_not_block_others(start_server):
    """A client that connects and says nothing does not hold up other clients"""
    server = start_server({"idle_timeout": 30.0})
    with connect(server):  # connects, then says nothing
        result = exchange(server, get_request("/"))
        if not result.received:
            raise result.fail(
                "A second client got no answer while a first client sat silent.",
                "the second client served at once, whatever the first one does",
                meaning="Your server is still busy with the first, silent client, so the second "
                "one waits its turn. Each client needs its own thread.",
            )
        expect_page(result)


@pytest.mark.task(2)
@pytest.mark.hint(
    "Every connection needs its own thread, however many there are: a pool of a few "
    "workers is full as soon as a few slow clients arrive.",
    docs="#one-thread-per-client",
)
def test_fifty_clients_served_at_once(server):
    """Fifty clients are served at the same time, each finished in reverse order"""
    count = 50
    first_half, second_half = BROWSER_REQUEST[:20], BROWSER_REQUEST[20:]
    clients = []
    try:
        for _ in range(count):
            client = connect(server)
            client.sendall(first_half)
            clients.append(client)
        for number in reversed(range(count)):
            client = clients[number]
            client.sendall(second_half)
            result = read_until_closed(client, Exchange(server=server, sent=BROWSER_REQUEST), ANSWER_TIMEOUT)
            if not result.received:
                raise result.fail(
                    f"Client {number + 1} of {count} got no answer.",
                    f"all {count} clients served at the same time",
                    detail=f"All {count} connected and sent half a request; then each sent the rest, "
                    f"last client first. {count - number - 1} clients had been served before this one.",
                    meaning="Fewer clients are served at once than are connected: the others wait "
                    "until a busy one finishes. Start a thread for every client.",
                )
            expect_page(result, summary_prefix=f"Client {number + 1} of {count}: ")
    finally:
        for client in clients:
            client.close()


@pytest.mark.task(1)
@pytest.mark.hint(
    "listen(n) sets how many connections the kernel queues before your loop accepts them. "
    "Use socket.SOMAXCONN, not a small number like 5.",
    docs="#the-listen-backlog",
)
def test_backlog_holds_a_burst(start_server):
    """A burst of 64 connections fits in the listen backlog"""
    burst = 64
    server = start_server(mode="listen")  # listening, but nobody calls accept()
    selector = selectors.DefaultSelector()
    clients = []
    try:
        for _ in range(burst):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.setblocking(False)
            client.connect_ex(server.address)
            selector.register(client, selectors.EVENT_WRITE)
            clients.append(client)
        connected = 0
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while connected < burst and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
                selector.unregister(key.fileobj)
                if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    connected += 1
        if connected < burst:
            raise CheckFailed(
                f"Only {connected} of {burst} connections were completed while your server was "
                f"not accepting (they waited {ANSWER_TIMEOUT:g} s).",
                expected=f"all {burst} connections queued by the kernel until accept() takes them",
                meaning="The listen backlog is the kernel's queue of connections not yet accepted. "
                "When it is full, new clients' connection attempts are dropped and they retry "
                "a second or more later: under a burst, users see long stalls.",
            )
    finally:
        selector.close()
        for client in clients:
            client.close()


@pytest.mark.task(3)
@pytest.mark.hint(
    "client.settimeout(self.idle_timeout) makes recv() raise TimeoutError when the client "
    "stays silent; catch it and close the connection.",
    docs="#idle-clients-and-timeouts",
)
def test_silent_client_is_disconnected(start_server):
    """A silent client is disconnected after the idle timeout"""
    idle_timeout, patience = 0.5, 5.0
    server = start_server({"idle_timeout": idle_timeout})
    with connect(server) as silent:
        result = read_until_closed(silent, Exchange(server=server, sent=b""), patience)
        if result.timed_out:
            raise result.fail(
                f"A client that sent nothing was still connected after {patience:g} s.",
                f"the server to hang up about {idle_timeout:g} s after the client went silent "
                f"(HTTPServer(..., idle_timeout={idle_timeout}))",
                meaning="Without a timeout, every silent client holds one of your threads forever; "
                "a few hundred of them and the server runs out.",
            )
    after = exchange(server, get_request("/"))
    if not after.received:
        raise after.fail(
            "After disconnecting the silent client, your server did not answer the next one.",
            "the server to keep serving new clients",
            meaning="Did serve_forever() stop? When accept() times out, the loop must go round again.",
        )
    expect_page(after)


@pytest.mark.task(1)
@pytest.mark.hint(
    "After bind((host, 0)) the operating system has chosen a port: read it back with "
    "self.socket.getsockname()[1]. Let the accept loop end when shutdown() is called.",
    docs="#port-0-and-shutting-down",
)
def test_port_zero_and_shutdown(server):
    """The server starts on port 0, reports the real port, and shuts down from another thread"""
    expect_page(exchange(server, get_request("/")))
    report = server.stop_gracefully()
    if report is None or not report["shutdown_returned"] or not report["serve_forever_returned"]:
        stuck = server.where_stuck()
        raise CheckFailed(
            "shutdown(), called from another thread, did not stop the server within "
            f"{SHUTDOWN_GRACE_SECONDS:g} s.",
            expected="shutdown() to return and serve_forever() to end",
            received="still running" if report is None else
            f"shutdown() returned: {report['shutdown_returned']}, "
            f"serve_forever() returned: {report['serve_forever_returned']}",
            stuck=stuck,
            meaning="The accept loop must check the stop flag on every round; a loop that never "
            "looks at it (or an accept() with no timeout) never ends.",
            server_output=server.output(),
        )
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(ANSWER_TIMEOUT)
    try:
        refused = probe.connect_ex(server.address) != 0
    finally:
        probe.close()
    if not refused:
        raise CheckFailed(
            f"After shutdown(), port {server.port} still accepts connections.",
            expected="the listening socket closed, so the port is free again",
            meaning="serve_forever() should close the listening socket when it ends.",
        )
