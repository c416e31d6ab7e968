"""Talking to a learner's server over real sockets, and reading its answers strictly.

``exchange()`` sends bytes (whole or in pieces) and reads until the server
closes the connection or a deadline passes. ``Exchange.response()`` parses what
came back with h11, a strict HTTP/1.1 parser written by other people, so a
response that a browser might forgive but the RFC does not is caught.
"""

import hashlib
import select
import shlex
import socket
import time
from dataclasses import dataclass, field

import h11
import requests

from .course import RESULTS_DIR, ROOT
from .report import CheckFailed, caret_diff, visible

# Seconds to wait for a response from a server on this same machine.
# Loopback answers take milliseconds; this only bounds a hang.
ANSWER_TIMEOUT = 3.0

# While waiting for an answer, how often to check whether serve_forever() died.
CRASH_POLL_INTERVAL = 0.1

# Seconds to wait for the report of a crash whose effect (a closed port) came first.
CRASH_REPORT_GRACE = 1.0

# The port `make serve` uses, shown in the commands a learner can paste.
SERVE_PORT = 8080
# A "Try it" piece longer than this (as printf text) is saved under TRY_IT_DIR and sent with cat,
# so one failure still fits a screen.
MAX_SHOWN_PIECE = 400
TRY_IT_DIR = RESULTS_DIR / "try-it"


def get_request(path="/", host="127.0.0.1"):
    """The bytes of a minimal, valid HTTP/1.1 GET."""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode("ascii")


@dataclass
class Exchange:
    """One connection: what was sent, what came back, and how it ended."""

    server: object
    sent: bytes
    pieces: int = 1
    cuts: list = field(default_factory=list)  # where the pieces were cut, when the check chose the places
    received: bytes = b""
    closed: bool = False  # the server closed its side (we read end-of-file)
    reset: bool = False  # the connection was reset instead of closed
    timed_out: bool = False
    complete: bool = False  # a whole response arrived and the check stopped reading there
    serve_crashed: bool = False  # the accept loop died while we waited
    thread_error: int | None = None  # index into server.thread_errors of an error that ended our wait
    answered_early: int | None = None  # bytes sent when the server answered before the request ended
    timeout: float = ANSWER_TIMEOUT
    stuck: list = field(default_factory=list)

    def __post_init__(self):
        # Errors the server reported before this exchange began are not about it.
        self.errors_before = len(self.server.thread_errors)

    def how_it_ended(self):
        if self.serve_crashed and not self.received:
            return "nothing arrived, because " + self.server.crash_text()
        if self.thread_error is not None and not self.received:
            return "nothing arrived, because " + self.server.thread_error_text(self.thread_error)
        if self.reset:
            return "the server reset the connection (it closed without reading, or crashed)"
        if self.closed and not self.received:
            return "the connection was closed without a single byte of response"
        if self.timed_out and not self.received:
            return f"nothing arrived within {self.timeout:g} s; the connection is still open"
        if self.timed_out:
            return f"then nothing more within {self.timeout:g} s, and the connection is still open"
        if self.complete:
            return "a whole response: the check stopped reading there"
        return "then the server closed the connection"

    def sent_text(self):
        text = visible(self.sent)
        if self.cuts and len(self.cuts) <= 8:
            places = ", ".join(f"{cut} ({visible(self.sent[cut - 1:cut])}|{visible(self.sent[cut:cut + 1])})"
                               for cut in self.cuts)
            text += f"\n(sent in {self.pieces} pieces, with short pauses between them; cut after byte {places})"
        elif self.pieces > 1:
            text += f"\n(sent in {self.pieces} pieces, with short pauses between them)"
        return text

    def received_text(self):
        if not self.received:
            return f"(nothing) — {self.how_it_ended()}"
        return visible(self.received) + f"\n({self.how_it_ended()})"

    def fail(self, summary, expected, meaning=None, detail=None, todo=None):
        """A ``CheckFailed`` that shows this exchange in full (``todo``: the TODO it points at, if not the check's)."""
        return CheckFailed(
            summary,
            sent=self.sent_text(),
            expected=expected,
            received=self.received_text(),
            detail=detail,
            stuck=self.stuck,
            meaning=meaning,
            server_output=self.server.output(),
            reproduce=reproduce(self.sent, self.server.step_key, self.cuts),
            todo=todo,
        )

    def response(self, expected="a complete HTTP response"):
        """The response, parsed strictly; fails with a teaching message if there is none or it is malformed."""
        if not self.received:
            raise self.fail("No response came back.", expected)
        try:
            return parse_response(self.received, self.closed, request_method(self.sent))
        except IncompleteResponse as problem:
            raise self.fail(f"The response is incomplete: {problem}", expected)
        except h11.RemoteProtocolError as problem:
            raise self.fail(
                "The response is not valid HTTP/1.1, says h11 (a strict parser).",
                expected,
                detail=f"h11 says: {problem}\n" + (caret_diff(b"HTTP/1.1 ", self.received) or ""),
            )


class IncompleteResponse(Exception):
    pass


@dataclass
class Response:
    status: int
    reason: str
    http_version: str
    headers: list  # [(lowercase name, value)], in order, as h11 decoded them
    body: bytes
    raw_head: bytes

    def header(self, name):
        """The value of header ``name`` (any case), or None; repeated headers are joined with ', '."""
        values = [value for key, value in self.headers if key == name.lower()]
        return ", ".join(values) if values else None

    def header_count(self, name):
        return sum(1 for key, _ in self.headers if key == name.lower())


def request_method(sent):
    """The method that decides how the response is framed: a response to HEAD has no body."""
    return "HEAD" if sent.startswith(b"HEAD ") else "GET"


def response_complete(raw, method):
    try:
        parse_response(raw, False, method)
    except (IncompleteResponse, h11.RemoteProtocolError):
        return False
    return True


def parse_response(raw, closed, method="GET"):
    """Parse ``raw`` as the server's response to one request, with h11.

    Raises ``h11.RemoteProtocolError`` for malformed bytes and
    ``IncompleteResponse`` when the bytes stop before the response ends.
    """
    connection = h11.Connection(our_role=h11.CLIENT)
    connection.send(h11.Request(method=method, target="/", headers=[("Host", "checks")]))
    connection.send(h11.EndOfMessage())
    connection.receive_data(raw)
    if closed:
        connection.receive_data(b"")
    head, body = None, bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            raise IncompleteResponse(
                "the head never ended with a blank line (\\r\\n\\r\\n)" if head is None
                else f"the body stopped after {len(body)} bytes, before the response said it would end"
            )
        if isinstance(event, h11.Response):
            head = event
        elif isinstance(event, h11.InformationalResponse):
            continue
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            break
    end_of_head = raw.find(b"\r\n\r\n")
    return Response(
        status=head.status_code,
        reason=head.reason.decode("latin-1"),
        http_version=head.http_version.decode("ascii"),
        headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in head.headers],
        body=bytes(body),
        raw_head=raw[: end_of_head + 4] if end_of_head >= 0 else raw,
    )


def exchange(server, data, pieces=1, pause=0.05, timeout=ANSWER_TIMEOUT, shut_write=False, split_at=None):
    """Send ``data`` to ``server`` (in ``pieces`` writes, ``pause`` s apart) and read until close or ``timeout``.

    ``split_at`` gives the exact byte offsets to cut ``data`` at instead, e.g. ``[len(head) - 1]``
    to split the blank line that ends a head between two writes.
    """
    cuts = piece_boundaries(len(data), pieces, split_at)
    result = Exchange(server=server, sent=data, pieces=max(1, len(cuts) - 1), timeout=timeout,
                      cuts=cuts[1:-1] if split_at is not None else [])
    with connect(server) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each piece its own packet
        for start, end in zip(cuts, cuts[1:]):
            if start:
                time.sleep(pause)  # the client is slow on purpose; the server must cope
                if answered(conn):
                    result.answered_early = start
                    break
            try:
                conn.sendall(data[start:end])
            except (BrokenPipeError, ConnectionResetError):
                result.reset = True
                return result
        if shut_write:
            conn.shutdown(socket.SHUT_WR)
        read_until_closed(conn, result, timeout)
    return result


def piece_boundaries(length, pieces=1, split_at=None):
    """Offsets ``[0, ..., length]`` cutting ``length`` bytes into pieces: ``pieces`` equal ones, or at ``split_at``."""
    if split_at is not None:
        inner = sorted({cut for cut in split_at if 0 < cut < length})
        return [0, *inner, length]
    step = max(1, -(-length // pieces))
    return [*range(0, length, step), length] if length else [0]


def answered(conn):
    """True when the server has sent something (or closed) already."""
    readable, _, _ = select.select([conn], [], [], 0)
    return bool(readable)


def read_until_closed(conn, result, timeout, report_grace=CRASH_REPORT_GRACE, stop_when_complete=False):
    """Read into ``result.received`` until end-of-file, a reset, or ``timeout`` seconds pass.

    With ``stop_when_complete``, also stop once a whole response has arrived (framed by its
    Content-Length): for checks about what is answered, not about closing the connection.

    When the connection ends with no answer, wait up to ``report_grace`` s for the report of a
    thread that crashed; a check that expects no answer passes 0 and looks for errors itself.
    """
    deadline = time.monotonic() + timeout
    received = bytearray()
    errors_before = result.errors_before
    while True:
        remaining = deadline - time.monotonic()
        if result.server.crash is not None and not received:
            result.serve_crashed = True  # nobody will ever accept this connection
            break
        if len(result.server.thread_errors) > errors_before and not received:
            result.thread_error = errors_before  # the thread serving us died: no answer will come
            break
        if remaining <= 0:
            result.timed_out = True
            result.stuck = result.server.where_stuck()
            break
        conn.settimeout(min(remaining, CRASH_POLL_INTERVAL))
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            result.reset = True
            break
        if not chunk:
            result.closed = True
            break
        received += chunk
        if stop_when_complete and response_complete(bytes(received), request_method(result.sent)):
            result.complete = True
            break
    result.received = bytes(received)
    if not received and (result.closed or result.reset) and result.thread_error is None:
        # The connection ended with no answer: if a thread crashed, its report may still be on its way.
        result.thread_error = result.server.wait_for_thread_error(errors_before, report_grace)
    return result


def connect(server, timeout=ANSWER_TIMEOUT):
    """A connected client socket, or a ``CheckFailed`` that says why there is none."""
    try:
        return socket.create_connection(server.address, timeout=timeout)
    except ConnectionRefusedError:
        crashed = crash_failure(server)
        if crashed:
            raise crashed from None
        raise CheckFailed(
            f"Nothing is listening on {server.address[0]}:{server.address[1]}, the port your server reported.",
            meaning="Did start() call listen()? Does serve_forever() close the socket too early?",
            server_output=server.output(),
        ) from None
    except TimeoutError:
        raise CheckFailed(
            f"Connecting to {server.address[0]}:{server.address[1]} took more than {timeout:g} s.",
            stuck=server.where_stuck(),
            meaning="The listen backlog is full and nobody is calling accept().",
            server_output=server.output(),
        ) from None


def fetch(server, method, path, client=requests, **kwargs):
    """``requests.request`` against the learner's server, or a ``CheckFailed`` saying why it failed.

    ``client``: a ``requests.Session``, to keep cookies from one request to the next as a browser does.
    """
    url = f"http://127.0.0.1:{server.port}{path}"
    errors_before = len(server.thread_errors)
    try:
        return client.request(method, url, timeout=ANSWER_TIMEOUT, **kwargs)
    except requests.RequestException as problem:
        connection_failed = isinstance(problem, requests.ConnectionError)
        crashed = crash_failure(server, errors_before) if connection_failed else None
        if crashed:
            raise crashed from None
        raise CheckFailed(
            f"requests.{method.lower()}({url!r}) failed.",
            received=f"{type(problem).__name__}: {problem}",
            stuck=server.where_stuck() if isinstance(problem, requests.Timeout) else [],
            server_output=server.output(),
            reproduce=f"{curl_command(method, path)}\n"
            f"(start your server first, in another terminal: make serve STEP={server.step_key or '<n>'})",
        ) from None


def crash_failure(server, thread_errors_before=None):
    """If serve_forever() died (or dies within a moment), a ``CheckFailed`` saying so; else None.

    A thread error reported after ``thread_errors_before`` stops the wait: the server is still alive.
    """
    if not server.wait_for_crash(CRASH_REPORT_GRACE, thread_errors_before):
        return None
    return CheckFailed(
        "Your server stopped accepting connections.",
        received=server.crash_text(),
        meaning=explain_error(server.crash.get("error", "")),
        server_output=server.output(),
    )


def explain_error(error):
    if error.startswith("NotImplementedError"):
        return "That TODO is not done yet: the starter's TODOs raise NotImplementedError until you write them."
    if "[Errno 22]" in error:
        return "accept() fails with 'Invalid argument' on a socket that is not listening: did start() call listen()?"
    return "The loop that accepts clients ended, so nobody is accepting new connections."


def reproduce(sent, step_key=None, cuts=()):
    """A command a learner can paste to send the same bytes to their own server.

    With ``cuts`` (byte offsets), the same pieces, a second apart. A piece too long to read in a
    terminal is saved under results/try-it/ and sent from there with cat.
    """
    if not sent:
        return None
    server = f"(start your server first, in another terminal: make serve STEP={step_key or '<n>'})"
    if cuts:
        bounds = [0, *cuts, len(sent)]
        pieces = "; sleep 1; ".join(piece_command(sent[start:end]) for start, end in zip(bounds, bounds[1:]))
        return f"({pieces}) | nc 127.0.0.1 {SERVE_PORT}\n{server}"
    if sent.startswith(b"GET ") and sent.endswith(b"\r\n\r\n") and sent.count(b"\r\n") <= 3 \
            and len(sent) <= MAX_SHOWN_PIECE:
        path = sent.split(b" ")[1].decode("ascii", "replace")
        return f"{curl_command('GET', path)}\n{server}"
    return f"{piece_command(sent)} | nc 127.0.0.1 {SERVE_PORT}\n{server}"


def curl_command(method, path):
    """curl -v for ``path`` on the learner's own server, quoted for the shell (a query may hold &)."""
    option = "" if method == "GET" else f"-X {method} "
    return f"curl -v {option}{shlex.quote(f'http://127.0.0.1:{SERVE_PORT}{path}')}"


def piece_command(data):
    """A shell command that writes ``data``: printf when it is short, else cat of a saved copy."""
    text = printf_text(data)
    if len(text) <= MAX_SHOWN_PIECE:
        return f"printf '{text}'"
    saved = TRY_IT_DIR / f"{hashlib.sha256(data).hexdigest()[:16]}.bin"
    try:
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_bytes(data)
    except OSError:
        return f"printf '{text[:MAX_SHOWN_PIECE]}...'  # ({len(data)} bytes in all; results/ is not writable)"
    shown = saved.relative_to(ROOT).as_posix() if saved.is_relative_to(ROOT) else str(saved)
    return f"cat {shlex.quote(shown)}"


def printf_text(data):
    """``data`` as a printf format in single quotes: \\r, \\n, other controls and bytes beyond ASCII
    escaped (in octal, which every shell's printf reads), % and ' made safe."""
    text = data.decode("latin-1").replace("\\", "\\\\").replace("'", "'\\''").replace("%", "%%")
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return "".join(char if " " <= char <= "~" else f"\\{ord(char):03o}" for char in text)
