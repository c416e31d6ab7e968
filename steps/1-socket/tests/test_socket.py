"""Step 1 — socket: the graded checks.

Every check talks to your server over a real TCP connection on 127.0.0.1.
Your server runs in a separate process on a free port (port 0), so a hang
cannot freeze the checks: after a few seconds they say where it was stuck.

When a check sends a request in pieces, it sends each piece only once your
server has read the one before (on Linux the kernel says when; elsewhere a
short pause stands in). So each of your recv() calls returns one piece, and
the cuts fall exactly where the check says, on every run.
"""

import re
import selectors
import socket
import string
import struct
import threading
import time

import h11
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from checks.launch import SHUTDOWN_GRACE_SECONDS
from checks.properties import course_settings
from checks.report import CheckFailed, caret_diff, visible
from checks.wire import (
    ANSWER_TIMEOUT,
    SERVE_PORT,
    Exchange,
    answered,
    connect,
    exchange,
    fetch,
    get_request,
    read_until_closed,
)

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

# The size of each piece in the small-pieces check.
SMALL_PIECE = 6


def expect_page(result, summary_prefix=""):
    """The response of ``result`` must be a complete, correctly framed 200 page."""
    expected = "HTTP/1.1 200 OK, then headers including Content-Length and Connection: close, then the page"
    response = result.response(expected)
    if result.received.startswith(STATUS_LINE.rstrip(b"\r\n") + b"\n"):
        raise result.fail(
            f"{summary_prefix}The status line ends with \\n alone.",
            "every line of the head to end with \\r\\n (carriage return, line feed)",
            detail=caret_diff(STATUS_LINE, result.received),
        )
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


# --- Sending a request in pieces that land in separate recv() calls ----------------------

# Linux's socket diagnostics (what the `ss` command uses) tell how many bytes of a
# connection the program at the other end has not read yet. Constants from <linux/sock_diag.h>,
# <linux/inet_diag.h> and <netinet/tcp.h>.
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
INET_DIAG_NOCOOKIE = 0xFFFFFFFF
ALL_TCP_STATES = 0xFFFFFFFF
TCP_LISTEN = 10
LOOPBACK = socket.inet_aton("127.0.0.1").ljust(16, b"\0")

# Where the kernel cannot be asked (not Linux), the pause between two pieces instead:
# on a quiet machine, time enough for the server to read one piece before the next.
PIECE_PAUSE = 0.05

# How often to look again while waiting for the server to read a piece or end its threads.
POLL_INTERVAL = 0.001


def unread_by_server(server_port, client_port):
    """Bytes sent on this connection that the server's program has not read yet.

    0 once the server's end of the connection is gone; None when this system can't say.
    """
    sockid = struct.pack("!HH16s16s", server_port, client_port, LOOPBACK, LOOPBACK)
    sockid += struct.pack("=III", 0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE)
    request = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, ALL_TCP_STATES) + sockid
    header = struct.pack("=IHHII", 16 + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0)
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as diag:
            diag.settimeout(1.0)
            diag.send(header + request)
            reply = diag.recv(65536)
        kind = struct.unpack_from("=H", reply, 4)[0]
        if kind == NLMSG_ERROR:
            # -ENOENT: no such connection any more (the server closed it); any other error: can't say.
            return 0 if struct.unpack_from("=i", reply, 16)[0] == -2 else None
        # The reply is an inet_diag_msg: family, state, timer, retrans, then the socket's id
        # (ports, addresses, interface, cookie), expires, and the receive queue we want.
        state = reply[17]
        (port,) = struct.unpack_from("!H", reply, 22)
        if state == TCP_LISTEN or port != client_port:
            return 0  # only the listening socket matched: the server's end of ours is gone
        return struct.unpack_from("=I", reply, 72)[0]
    except (AttributeError, OSError, struct.error):  # no AF_NETLINK here, or not allowed
        return None


def delivered(conn):
    """True when every byte sent on ``conn`` has reached the other end (Linux's TCP_INFO; else True)."""
    try:
        info = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        return struct.unpack_from("=I", info, 24)[0] == 0  # tcpi_unacked: segments not yet acknowledged
    except (AttributeError, OSError, struct.error):
        return True


def wait_until_read(server, conn, deadline):
    """Wait until the server has read every byte sent on ``conn`` so far, or ``deadline`` passes."""
    client_port = conn.getsockname()[1]
    while time.monotonic() < deadline:
        unread = unread_by_server(server.port, client_port)
        if unread is None:
            time.sleep(PIECE_PAUSE)  # this system can't tell us: give the server a moment instead
            return
        if unread == 0 and delivered(conn):
            return
        time.sleep(POLL_INTERVAL)


def send_in_pieces(server, data, cuts, timeout=ANSWER_TIMEOUT):
    """Send ``data`` cut at the byte offsets ``cuts``, each piece once the server has read the one before.

    Then read until the server closes. If it answers (or closes) before the last piece,
    ``answered_early`` says after how many bytes.
    """
    bounds = [0, *sorted({cut for cut in cuts if 0 < cut < len(data)}), len(data)]
    result = Exchange(server=server, sent=data, pieces=len(bounds) - 1, cuts=bounds[1:-1], timeout=timeout)
    deadline = time.monotonic() + timeout  # for all the waiting on reads together
    with connect(server) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each piece its own packet
        for start, end in zip(bounds, bounds[1:]):
            if start:
                wait_until_read(server, conn, deadline)
                if answered(conn):
                    result.answered_early = start
                    break
            try:
                conn.sendall(data[start:end])
            except (BrokenPipeError, ConnectionResetError):
                result.answered_early = start
                break
        read_until_closed(conn, result, timeout, stop_when_complete=True)  # closing is another check's
    return result


def expect_answer_to_whole_head(result, summary="No response came back.", meaning=None):
    """Like ``expect_page``, and the answer must not come before the last byte of the head."""
    if not result.received:
        if result.answered_early is not None:
            summary += (f" Your server closed the connection after {result.answered_early} of the "
                        f"{len(result.sent)} bytes.")
        raise result.fail(summary, "HTTP/1.1 200 OK and the page", meaning=meaning)
    early = "no answer until the head's final blank line (\\r\\n\\r\\n) has arrived"
    if result.answered_early is not None:
        raise result.fail(
            f"Your server answered after only {result.answered_early} of the {len(result.sent)} bytes "
            "of the request had been sent.",
            early,
            meaning="It answered what had arrived so far, not the whole head. On a real network "
            "a request often arrives in pieces.",
        )
    if result.reset:
        raise result.fail(
            "Your server answered, then closed the connection with bytes of the request still "
            "unread (so the connection was reset).",
            early,
            meaning="It answered before the whole head had arrived, and never read the rest.",
        )
    return expect_page(result)


def threads_settled(server, threads_before):
    """Wait until the server runs no more threads than ``threads_before`` (its clients' threads ended).

    Once a thread has ended, its error (if it died of one) is in ``server.thread_errors``:
    the child reports the error before the thread ends, on the channel the count comes back on.
    """
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while time.monotonic() < deadline:
        stats = server.stats()
        if stats is None or stats["threads"] <= threads_before:
            return
        time.sleep(POLL_INTERVAL)


def thread_count(server):
    stats = server.stats()
    return stats["threads"] if stats else 0


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


@pytest.mark.task(4, needs=(5,))
@pytest.mark.hint(
    "One recv() returns whatever has arrived so far, which may be a few bytes. "
    "Keep calling recv() and collecting until the bytes contain \\r\\n\\r\\n.",
    docs="#reading-until-the-blank-line",
)
def test_head_in_small_pieces_is_answered(server):
    """A request head that arrives in small pieces is still answered"""
    result = send_in_pieces(server, BROWSER_REQUEST, range(SMALL_PIECE, len(BROWSER_REQUEST), SMALL_PIECE))
    expect_answer_to_whole_head(result)


# The bytes of a POST whose small body comes in the same write as its head.
POST_WITH_BODY = (
    b"POST / HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 5\r\n"
    b"\r\n"
    b"hello"
)


@pytest.mark.task(4, needs=(5,))
@pytest.mark.hint(
    "Look for b\"\\r\\n\\r\\n\" in everything received so far, not in the latest chunk: its four "
    "bytes can arrive in two reads. And don't wait for the data to end with it: a body may follow.",
    docs="#reading-until-the-blank-line",
)
def test_blank_line_is_found_wherever_it_falls(server):
    """The blank line that ends the head is found when split across reads, and when a body follows it"""
    end = len(BROWSER_REQUEST)
    # \r | \n\r\n,  \r\n | \r\n,  \r\n\r | \n,  and all three at once: \r | \n | \r | \n
    for cuts in ([end - 3], [end - 2], [end - 1], [end - 3, end - 2, end - 1]):
        result = send_in_pieces(server, BROWSER_REQUEST, cuts)
        expect_answer_to_whole_head(
            result,
            "Cut inside the blank line that ends it, the request got no answer.",
            meaning="The four bytes of the blank line came in more than one recv(), so no single "
            "chunk held all of \\r\\n\\r\\n. Search the whole buffer collected so far.",
        )
    result = exchange(server, POST_WITH_BODY)
    if not result.received:
        raise result.fail(
            "A head followed by a 5-byte body, all in one write, got no answer.",
            "HTTP/1.1 200 OK and the page: the head ends at its blank line, wherever that falls",
            meaning="The blank line was there, but the data did not end with it. Look for "
            "\\r\\n\\r\\n anywhere in the buffer (`in`), not at its end (endswith).",
        )
    expect_page(result)


# A header value with characters beyond ASCII, in UTF-8: é and ï are 2 bytes, — is 3, 😀 is 4.
UTF8_REQUEST = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Greeting: café — naïve 😀\r\n\r\n".encode()
# Bytes that are not UTF-8 at all: é in Latin-1 (one byte, \xe9), and \xff, which UTF-8 never uses.
# HTTP allows them in header values (obs-text, RFC 9110 section 5.5).
LATIN1_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Legacy: caf\xe9 \xff\r\n\r\n"


@pytest.mark.task(4, needs=(5,))
@pytest.mark.hint(
    "Keep the head as bytes: a recv() can end in the middle of a character, and header values "
    "may hold bytes that are not UTF-8 at all. Don't decode the head in step 1.",
    docs="#reading-until-the-blank-line",
)
def test_header_bytes_beyond_ascii_are_answered(server):
    """Header values in UTF-8 cut mid-character, or in bytes that are not UTF-8, are answered"""
    dash = UTF8_REQUEST.index("—".encode())
    emoji = UTF8_REQUEST.index("😀".encode())
    cases = [
        (UTF8_REQUEST, [dash + 1], "The em dash (three bytes in UTF-8) was cut after its first byte."),
        (UTF8_REQUEST, [dash + 2, emoji + 1, emoji + 3], "Two characters were cut in the middle."),
        (LATIN1_REQUEST, [], "The head, sent whole, holds bytes that are not UTF-8 (\\xe9 and \\xff)."),
    ]
    for data, cuts, what in cases:
        result = send_in_pieces(server, data, cuts)
        expect_answer_to_whole_head(
            result,
            f"{what} No answer came.",
            meaning="Decoding such bytes as UTF-8 raises UnicodeDecodeError: decode "
            "nothing in step 1 (step 2 decodes a complete head, carefully).",
        )


# --- The property: any valid request, split anywhere, gets the page ----------------------

# Methods without a body in these requests. HEAD is left out: its answer has no body.
METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
# tchar (RFC 9110 section 5.6.2): the characters of a method or a header name.
TCHAR = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
# pchar without percent-encoding (RFC 3986): the characters of a path segment.
PCHAR = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@"
# Header names a browser sends; generated ones besides.
FIELD_NAMES = ["Accept", "Accept-Language", "User-Agent", "Cookie", "Referer", "X-Note"]
# Fields left out: two would give the request a body, and a second Host must be refused.
LEFT_OUT_FIELDS = {"content-length", "transfer-encoding", "host"}
# Words of header values. Mostly what browsers send; then characters beyond ASCII in UTF-8
# (2, 3 and 4 bytes long), and bytes above 127 that are not UTF-8 at all (obs-text, which
# RFC 9110 section 5.5 allows in a value): Latin-1 text, a lone \xff, a UTF-8 sequence cut short.
VALUE_WORDS = [
    b"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", b"en-GB,en;q=0.5", b"gzip, deflate",
    b"Mozilla/5.0", b"session=4f2a; theme=dark", b"http://127.0.0.1/a?b=c", b"no-cache", b'"quoted"',
    "café".encode(), "naïve".encode(), "Straße".encode(), "—".encode(), "5€".encode(), "中文".encode(),
    "😀".encode(), b"caf\xe9", b"\xff", b"\xe2\x80", b"\x80\xbf\xc0",
]
# Path segments: plain, percent-encoded (UTF-8 and not), and with the other characters a segment allows.
SEGMENTS = ["", "index.html", "a", "user", "x%20y", "%C3%A9t%C3%A9", "caf%E9", "~me", "a;b=c", "@:!$&'()*+,="]

WORD_CHARS = string.ascii_letters + string.digits + "-_.:/=;,"

words = st.one_of(st.sampled_from(VALUE_WORDS), st.text(WORD_CHARS, min_size=1, max_size=6).map(str.encode))
field_values = st.lists(words, max_size=3).map(b" ".join)
field_names = st.one_of(st.sampled_from(FIELD_NAMES), st.text(TCHAR, min_size=1, max_size=10)).filter(
    lambda name: name.lower() not in LEFT_OUT_FIELDS
)
whitespace = st.sampled_from([b"", b" ", b"  ", b"\t"])
segments = st.one_of(st.sampled_from(SEGMENTS), st.text(PCHAR, max_size=6))
paths = st.lists(segments, max_size=3).map(lambda parts: "/" + "/".join(parts))
queries = st.sampled_from(["", "?", "?q=1", "?a=1&b=%C3%A9", "?x=/y?z", "?q=caf%E9"])


@st.composite
def valid_requests(draw):
    """A request head h11 accepts: method, target, version, Host and a few other fields."""
    method = draw(st.sampled_from(METHODS))
    form = draw(st.sampled_from(["origin", "origin", "absolute", "asterisk"]))
    target = draw(paths) + draw(queries)
    if form == "absolute":
        target = "http://127.0.0.1" + target
    elif form == "asterisk" and method == "OPTIONS":
        target = "*"
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.0"]))
    lines = [f"{method} {target} {version}".encode("ascii"), b"Host: 127.0.0.1"]
    for _ in range(draw(st.integers(0, 4))):
        name = draw(field_names).encode("ascii")
        lines.append(name + b":" + draw(whitespace) + draw(field_values) + draw(whitespace))
    data = b"\r\n".join(lines) + b"\r\n\r\n"
    assume(h11_accepts(data))
    return data


def h11_accepts(data):
    """True when h11, as a server, reads ``data`` as one complete, valid request head."""
    connection = h11.Connection(our_role=h11.SERVER)
    connection.receive_data(data)
    try:
        return isinstance(connection.next_event(), h11.Request)
    except h11.RemoteProtocolError:
        return False


def interesting_cuts(data):
    """Offsets where a cut catches common bugs: inside the blank line, a line end, or a character."""
    end = len(data)
    places = {end - 3, end - 2, end - 1}
    places.update(index for index in range(1, end) if data[index - 1:index + 1] == b"\r\n")
    places.update(index for index in range(1, end) if data[index] & 0xC0 == 0x80 and data[index - 1] >= 0x80)
    return sorted(places)


@st.composite
def split_requests(draw):
    """A valid request and one to three places to cut it."""
    data = draw(valid_requests())
    places = st.one_of(st.sampled_from(interesting_cuts(data)), st.integers(1, len(data) - 1))
    cuts = draw(st.lists(places, min_size=1, max_size=3, unique=True))
    return data, sorted(cuts)


# The shortest valid request: the known bugs are pinned on it, so the report stays short.
SHORT_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
# How many generated requests the property tries (each is one connection), after the pinned ones.
PROPERTY_EXAMPLES = 25


@pytest.fixture
def page_sent_whole(server):
    """The server's answer to a request sent in one piece: what every split request must get too."""
    return expect_page(exchange(server, SHORT_REQUEST), summary_prefix="Sent in one piece: ")


@pytest.mark.task(4, needs=(5,))
@pytest.mark.hint(
    "Collect every chunk in one bytearray, look for the blank line in all of it, and keep it as "
    "bytes: then where TCP cuts the request cannot matter.",
    docs="#reading-until-the-blank-line",
)
@given(case=split_requests())
# No shrinking: each failing try waits seconds for an answer that never comes, so shrinking
# would take minutes. The pinned cases below come first and are already as small as they get.
@course_settings(max_examples=PROPERTY_EXAMPLES, shrink=False)
@example(case=(SHORT_REQUEST, [len(SHORT_REQUEST) - 3]))  # \r | \n\r\n
@example(case=(SHORT_REQUEST, [len(SHORT_REQUEST) - 1]))  # \r\n\r | \n
@example(case=(SHORT_REQUEST, [len(SHORT_REQUEST) - 2]))  # \r\n | \r\n
@example(case=(UTF8_REQUEST, [UTF8_REQUEST.index("—".encode()) + 1]))  # inside a character
@example(case=(LATIN1_REQUEST, [len(LATIN1_REQUEST) - 1]))  # bytes that are not UTF-8
def test_any_request_split_anywhere_gets_the_page(server, page_sent_whole, case):
    """Any valid request, split anywhere, gets the same answer as when sent whole"""
    data, cuts = case
    result = send_in_pieces(server, data, cuts)
    response = expect_answer_to_whole_head(
        result,
        "Sent in pieces, this valid request got no answer.",
        meaning="The request was valid (h11 accepts it) and the same page comes back when a "
        "plain request is sent in one piece. So the cuts, or the bytes, are what your server "
        "does not handle.",
    )
    if response.body != page_sent_whole.body:
        raise result.fail(
            "Sent in pieces, this request got another body than a request sent whole.",
            f"the same {len(page_sent_whole.body)}-byte page as when sent whole",
            meaning="Every request gets the same page in step 1: what is read must not change the answer.",
        )


# The head limit the starter sets: MAX_HEAD_BYTES = 64 * 1024.
MAX_HEAD_BYTES = 64 * 1024
# A long head that any server should take: three recv(4096) calls' worth, less than the
# 16 KiB that h11 allows by default. Browsers send heads this long with many cookies.
LONG_HEAD_BYTES = 12 * 1024
# How much of a head that never ends is sent before the server must have hung up.
ENDLESS_HEAD_BYTES = 8 * MAX_HEAD_BYTES


def filler_lines(size):
    """Header lines of about 120 bytes each, ``size`` bytes or a little more in all."""
    lines = []
    while sum(map(len, lines)) < size:
        lines.append(b"X-Filler-%04d: %s\r\n" % (len(lines), b"a" * 100))
    return b"".join(lines)


def read_head_gives_up_on(learner_module, data):
    """True when the learner's read_head(), given ``data`` and then the end of the stream, returns None.

    When it does, and the server still answered, the answer came from handle_client (TODO 3).
    """
    read_head = getattr(learner_module("server"), "read_head", None)
    if read_head is None:
        return False
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(ANSWER_TIMEOUT)
        sender = threading.Thread(target=send_then_hang_up, args=(theirs, data))
        sender.start()
        try:
            return read_head(ours) is None
        except Exception:
            return False
        finally:
            ours.shutdown(socket.SHUT_RDWR)
            sender.join()


def send_then_hang_up(sock, data):
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the reader stopped reading: it has seen enough


ANSWERED_ALTHOUGH_READ_HEAD_GAVE_UP = (
    "Your read_head() returns None for these bytes, as it should; the answer came from "
    "handle_client(), which must close the connection without sending anything when read_head() "
    "returns None."
)


def answered_as_a_request(result):
    """True when bytes came back that are not an error status (4xx, 5xx): an unfinished head got an answer."""
    return bool(result.received) and re.match(rb"HTTP/1\.[01] [45]\d\d ", result.received) is None


@pytest.mark.task(4, needs=(5,))
@pytest.mark.hint(
    "Before each recv(), check the size collected so far: past MAX_HEAD_BYTES, return None "
    "(handle_client then closes the connection). A 12 KiB head is well within the limit.",
    docs="#a-head-that-never-ends",
)
def test_head_size_is_limited(server, learner_module):
    """A 12 KiB head is answered, and a head that never ends is cut off"""
    threads_before, errors_before = thread_count(server), len(server.thread_errors)
    start = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    long_head = start + filler_lines(LONG_HEAD_BYTES - len(start)) + b"\r\n"
    result = send_in_pieces(server, long_head, [len(long_head) // 3, 2 * len(long_head) // 3])
    expect_answer_to_whole_head(
        result,
        f"A {len(long_head) // 1024} KiB head got no answer.",
        meaning=f"A {len(long_head) // 1024} KiB head is long, but well below MAX_HEAD_BYTES (64 KiB). "
        "Is the limit compared with the right number, or is one recv() taken as the whole head?",
    )

    block = filler_lines(8 * 1024)
    sent = bytearray(start)
    endless = Exchange(server=server, sent=b"", timeout=ANSWER_TIMEOUT)
    with connect(server) as conn:
        try:
            conn.sendall(start)
            while len(sent) < ENDLESS_HEAD_BYTES and not answered(conn):
                conn.sendall(block)
                sent += block
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server hung up: what it should do
        except TimeoutError:
            pass  # the server stopped reading; did it hang up too? read on to see
        read_until_closed(conn, endless, ANSWER_TIMEOUT, report_grace=0)
    endless.sent = bytes(sent)
    shown = visible(bytes(sent[:len(start) + 60])) + f"…\n({len(sent) // 1024} KiB of header lines, and no blank line)"
    if endless.timed_out or answered_as_a_request(endless):
        handle_client_answered = not endless.timed_out and read_head_gives_up_on(learner_module, bytes(sent))
        raise CheckFailed(
            f"After {len(sent) // 1024} KiB of a head that never ends, your server "
            + ("was still reading it." if endless.timed_out else "answered it as a request."),
            sent=shown,
            expected=f"the connection closed soon after MAX_HEAD_BYTES ({MAX_HEAD_BYTES // 1024} KiB), "
            "with no answer (or an error status, such as 431)",
            received=endless.received_text(),
            stuck=endless.stuck,
            meaning=ANSWERED_ALTHOUGH_READ_HEAD_GAVE_UP if handle_client_answered else
            "Without a limit, one client can make your server hold any amount of memory. "
            "Once more than MAX_HEAD_BYTES have arrived without a blank line, stop reading and "
            "hang up: an unfinished head is not a request, so there is nothing to answer.",
            server_output=server.output(),
            todo=3 if handle_client_answered else None,
            reproduce=f"(printf 'GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n'; yes 'X-Filler: aaaa' | "
            f"head -c {ENDLESS_HEAD_BYTES}; sleep 5) | nc 127.0.0.1 {SERVE_PORT}",
        )
    threads_settled(server, threads_before)
    if len(server.thread_errors) > errors_before:
        raise CheckFailed(
            "The head that never ends was cut off, but by an error that ended the thread serving it.",
            sent=shown,
            expected="read_head() returns None past MAX_HEAD_BYTES, and handle_client() closes the connection",
            received=server.thread_error_text(errors_before),
            server_output=server.output(),
        )
    after = exchange(server, get_request("/"))
    if not after.received:
        raise after.fail(
            "After cutting off the endless head, your server did not answer the next client.",
            "the server to keep serving new clients",
        )
    expect_page(after)


# Where a client hangs up: (what it sent first, where that is).
HANG_UPS = [
    (b"", "before sending a single byte"),
    (b"GET / HT", "in the middle of the request line"),
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", "after a header line, before the blank line"),
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r", "one byte short of the blank line"),
]


def with_command(failure, partial):
    """``failure``, with a command that sends ``partial`` and then hangs up, as the check did."""
    failure.reproduce = (
        "python -c \"import socket; s = socket.create_connection(('127.0.0.1', "
        f"{SERVE_PORT})); s.sendall({partial!r}); s.shutdown(socket.SHUT_WR); print(s.recv(1000))\"\n"
        "(start your server first, in another terminal: make serve STEP=1; b'' means it hung up too)"
    )
    return failure


@pytest.mark.task(4, needs=(3, 5))
@pytest.mark.hint(
    "recv() returning b\"\" means the client has closed its side and nothing more will come: "
    "return None at once (no answer), and let handle_client() close the connection.",
    docs="#a-client-that-hangs-up",
)
def test_client_hanging_up_mid_head_is_let_go(server, learner_module):
    """A client that hangs up in the middle of its head is let go at once, with no answer"""
    threads_before, errors_before = thread_count(server), len(server.thread_errors)
    for partial, where in HANG_UPS:
        result = Exchange(server=server, sent=partial)
        with connect(server) as conn:
            conn.sendall(partial)
            conn.shutdown(socket.SHUT_WR)  # the client is done sending: the server reads b""
            read_until_closed(conn, result, ANSWER_TIMEOUT, report_grace=0)
        if result.timed_out:
            raise with_command(result.fail(
                f"A client hung up {where}, and {ANSWER_TIMEOUT:g} s later your server still held "
                "the connection open.",
                "the connection closed at once, with no answer",
                meaning="recv() returns b\"\" for ever once the client has closed its side. A loop "
                "that does not stop on b\"\" spins at full speed, holding the thread and the "
                "connection, and the idle timeout never fires because recv() never waits.",
            ), partial)
        if answered_as_a_request(result):
            handle_client_answered = read_head_gives_up_on(learner_module, partial)
            raise with_command(result.fail(
                f"A client hung up {where}, and your server answered anyway.",
                "the connection closed with no answer: an unfinished head is not a request",
                meaning=ANSWERED_ALTHOUGH_READ_HEAD_GAVE_UP if handle_client_answered else
                "When recv() returns b\"\" before the blank line has come, read_head() "
                "should return None, and handle_client() then return without sending anything.",
                todo=3 if handle_client_answered else None,
            ), partial)
    threads_settled(server, threads_before)
    if len(server.thread_errors) > errors_before:
        raise CheckFailed(
            "Clients that hung up mid-head were let go, but the thread serving one of them died "
            "with an error.",
            expected="read_head() returns None on b\"\", and handle_client() returns quietly",
            received=server.thread_error_text(errors_before),
            server_output=server.output(),
        )
    after = exchange(server, get_request("/"))
    if not after.received:
        raise after.fail(
            "After clients that hung up mid-head, your server did not answer the next one.",
            "the server to keep serving new clients",
        )
    expect_page(after)


@pytest.mark.task(3, needs=(5,))
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


def silent_clients_then_curl(count):
    """A shell line that keeps ``count`` clients connected and silent for 30 s, then asks for the page."""
    silent = f"(sleep 30 | nc 127.0.0.1 {SERVE_PORT} &)"
    clients = silent if count == 1 else f"for i in $(seq {count}); do {silent}; done"
    return (f"{clients}; sleep 1; curl -v --max-time 5 http://127.0.0.1:{SERVE_PORT}/\n"
            "(start your server first, in another terminal: make serve STEP=1)")


@pytest.mark.task(2, needs=(3, 5))
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
            failure = result.fail(
                "A second client got no answer while a first client sat silent.",
                "the second client served at once, whatever the first one does",
                meaning="Your server is still busy with the first, silent client, so the second "
                "one waits its turn. Each client needs its own thread.",
            )
            failure.reproduce = silent_clients_then_curl(1)
            raise failure
        expect_page(result)


@pytest.mark.task(2, needs=(5,))
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
            result = read_until_closed(client, Exchange(server=server, sent=BROWSER_REQUEST), ANSWER_TIMEOUT,
                                       stop_when_complete=True)
            if not result.received:
                failure = result.fail(
                    f"Client {number + 1} of {count} got no answer.",
                    f"all {count} clients served at the same time",
                    detail=f"All {count} connected and sent half a request; then each sent the rest, "
                    f"last client first. {count - number - 1} clients had been served before this one.",
                    meaning="Fewer clients are served at once than are connected: the others wait "
                    "until a busy one finishes. Start a thread for every client.",
                )
                failure.reproduce = silent_clients_then_curl(count)
                raise failure
            expect_page(result, summary_prefix=f"Client {number + 1} of {count}: ")
    finally:
        for client in clients:
            client.close()


# How long the quiet-start check leaves the server with no client: five rounds of the
# accept loop, whose accept() gives up every 0.2 s (ACCEPT_POLL_INTERVAL).
QUIET_START_SECONDS = 1.0


@pytest.mark.task(2, needs=(5,))
@pytest.mark.hint(
    "While nobody connects, accept() raises TimeoutError every 0.2 s. Catch it and `continue`: "
    "with `pass` (or `break`), the loop runs on without a client, or stops.",
    docs="#port-0-and-shutting-down",
)
def test_quiet_start_then_a_client_is_served(server):
    """A server left without clients for a second still serves the first one that comes"""
    # Not a sleep: this returns at once if the accept loop dies, and otherwise waits the second out.
    if server.wait_for_crash(QUIET_START_SECONDS):
        raise CheckFailed(
            f"Your server's accept loop died within {QUIET_START_SECONDS:g} s, before any client came.",
            expected="serve_forever() to keep accepting, however long nobody connects",
            received=server.crash_text(),
            meaning="accept() raises TimeoutError every 0.2 s while nobody connects. Caught with "
            "`pass`, the code after it runs anyway, with no client (a variable that was never "
            "set); not caught, it ends the loop. Catch it and `continue`.",
            server_output=server.output(),
        )
    try:
        result = exchange(server, get_request("/"))
    except CheckFailed as failure:
        raise CheckFailed(
            f"After {QUIET_START_SECONDS:g} s with no clients, your server no longer accepts connections.",
            expected="serve_forever() to keep accepting until shutdown() is called",
            received=failure.summary,
            meaning="serve_forever() ended by itself: does the loop `break` or `return` when "
            "accept() times out? Nobody coming is not a reason to stop.",
            server_output=server.output(),
        ) from None
    if not result.received:
        raise result.fail(
            f"After {QUIET_START_SECONDS:g} s with no clients, the first client got no answer.",
            "HTTP/1.1 200 OK and the page",
        )
    expect_page(result)


@pytest.mark.task(2, needs=(3,))
@pytest.mark.hint(
    "Start each client's thread with daemon=True: Python does not wait for daemon threads "
    "when the program ends, so a client that never leaves cannot keep it running.",
    docs="#one-thread-per-client",
)
def test_connected_client_does_not_keep_the_program_running(server):
    """A client still connected when the server shuts down does not keep the program running"""
    threads_before = thread_count(server)
    with connect(server):  # connects, then says nothing: its thread waits in recv()
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while thread_count(server) <= threads_before and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        report = server.stop_gracefully()
        lingering = (report or {}).get("lingering_threads") or []
        if lingering:
            raise CheckFailed(
                "After shutdown(), a thread serving a client that is still connected would keep "
                "your program running.",
                sent="a connection that sends nothing, still open when shutdown() is called",
                expected="the client threads started with daemon=True",
                received=f"threads that are not daemon threads: {', '.join(lingering)}",
                meaning="When serve_forever() returns, python server.py ends only once every "
                "thread that is not a daemon has ended. A silent client holds its thread until the "
                "idle timeout, a slow one for ever, so Ctrl-C seems not to stop your server.",
                server_output=server.output(),
            )


@pytest.mark.task(1, needs=(2, 3, 5))
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


@pytest.mark.task(3, needs=(5,))
@pytest.mark.hint(
    "client.settimeout(self.idle_timeout) makes recv() raise TimeoutError when the client "
    "stays silent, and a client that resets makes recv() or sendall() raise ConnectionResetError: "
    "catch (TimeoutError, ConnectionError) around both, and close the connection.",
    docs="#idle-clients-and-timeouts",
)
def test_silent_client_is_disconnected(start_server):
    """A silent client is disconnected after the idle timeout, and ones that reset are let go without an error"""
    idle_timeout, patience = 0.5, 5.0
    server = start_server({"idle_timeout": idle_timeout})
    threads_before, errors_before = thread_count(server), len(server.thread_errors)
    # Closing with a zero linger time resets the connection (a closed browser tab, a killed program).
    # One client vanishes mid-head, so the server's recv() raises ConnectionResetError; another
    # right after its whole request, so the server's sendall() does.
    with connect(server) as vanishing:
        vanishing.sendall(b"GET / HT")
        wait_until_read(server, vanishing, time.monotonic() + ANSWER_TIMEOUT)
        vanishing.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with connect(server) as impatient:
        impatient.sendall(get_request("/"))
        impatient.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with connect(server) as silent:
        result = read_until_closed(silent, Exchange(server=server, sent=b"", timeout=patience), patience,
                                   report_grace=0)
        if result.timed_out:
            raise result.fail(
                f"A client that sent nothing was still connected after {patience:g} s.",
                f"the server to hang up about {idle_timeout:g} s after the client went silent "
                f"(HTTPServer(..., idle_timeout={idle_timeout}))",
                meaning="Without a timeout, every silent client holds one of your threads forever; "
                "a few hundred of them and the server runs out.",
            )
    threads_settled(server, threads_before)
    if len(server.thread_errors) > errors_before:
        raise CheckFailed(
            "A client that went silent, or one that reset its connection (mid-head, or right after "
            "its request), was let go by an error that ended the thread serving it.",
            expected="handle_client() to catch TimeoutError (a silent client) and ConnectionError "
            "(a client that vanished), around both read_head() and sendall(), and close quietly",
            received=server.thread_error_text(errors_before),
            server_output=server.output(),
        )
    after = exchange(server, get_request("/"))
    if not after.received:
        raise after.fail(
            "After disconnecting the silent client, your server did not answer the next one.",
            "the server to keep serving new clients",
            meaning="Did serve_forever() stop? When accept() times out, the loop must go round again.",
        )
    expect_page(after)


@pytest.mark.task(1, needs=(5,))
@pytest.mark.hint(
    "After bind((host, 0)) the operating system has chosen a port: read it back with "
    "self.socket.getsockname()[1]. Let the accept loop end when shutdown() is called.",
    docs="#port-0-and-shutting-down",
)
def test_port_zero_and_shutdown(server):
    """The server binds 127.0.0.1 on port 0 with SO_REUSEADDR, reports the real port, and shuts down from another thread"""
    bound_host = server.listening.get("bound_host")
    if bound_host is None:
        raise CheckFailed(
            "start() did not keep its listening socket in self.socket, so nobody can tell what it is bound to.",
            expected="self.socket = listener, the socket that bind() and listen() were called on",
            received="self.socket is missing, or is not a socket",
        )
    if bound_host != "127.0.0.1":
        raise CheckFailed(
            f"start() was given the host 127.0.0.1, but the listening socket is bound to {bound_host}.",
            expected="listener.bind((self.host, self.port)), so the socket listens on 127.0.0.1 only",
            received=f"bound to {bound_host}",
            meaning="A socket that listen()s without bind() is bound by the operating system to "
            "0.0.0.0, every network interface, on a port of its choosing: anyone on your network "
            "could reach your server, and the host you asked for is ignored.",
        )
    if server.listening.get("reuse_address") is False:
        raise CheckFailed(
            "The listening socket does not set SO_REUSEADDR.",
            expected="listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1) before bind()",
            received="SO_REUSEADDR is 0",
            meaning="Without it, restarting your server soon after it served someone fails with "
            "\"Address already in use\": the old connections linger in TIME_WAIT for a minute or so, "
            "and the port cannot be bound again until they expire.",
        )
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
            todo=2,  # the accept loop's, though this check is filed under the listening socket's
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
