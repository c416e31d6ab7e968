"""Several requests on one connection, and the responses read back one by one: for the checks of keep-alive.

``converse(server, requests)`` sends each request once the answer to the one before it has
arrived, as a browser does; ``pipelined=True`` sends them all in one write; ``pieces=n`` sends
each request in n writes, a moment apart, as a slow client would. It reads until every
response is in, the server closes, or time runs out. h11 reads each response in turn, framed by
the method of the request it answers (a HEAD answer has no body), and notices bytes sent after
a response that said ``Connection: close``.
"""

import socket
import time
from dataclasses import dataclass, field

import h11

from .wire import ANSWER_TIMEOUT, CRASH_POLL_INTERVAL, Exchange, Response, connect, piece_boundaries

# Seconds between the pieces of a request sent in pieces: long enough for each to arrive alone.
PIECE_PAUSE = 0.05


@dataclass
class Conversation(Exchange):
    """One connection carrying several requests: what was sent, and each response that came back."""

    requests: list = field(default_factory=list)  # the requests, each as bytes, in order
    responses: list = field(default_factory=list)  # a wire.Response for each complete answer, in order
    problem: str | None = None  # why the bytes after the last complete response could not be read, if so
    sent_count: int = 0  # requests sent before the conversation ended

    def expect_answers(self, count, what):
        """The first ``count`` responses; fails with the whole conversation shown if fewer came back."""
        if len(self.responses) >= count:
            return self.responses[:count]
        got = f"{len(self.responses)} complete response{'s' if len(self.responses) != 1 else ''}"
        if self.problem:
            got += f", then bytes h11 could not read as the next one: {self.problem}"
        raise self.fail(f"{len(self.requests)} requests on one connection got {got}.", what)

    def status_line(self, index):
        response = self.responses[index]
        return f"{response.status} {response.reason}".strip()


def methods_of(requests):
    return [request.split(b" ", 1)[0].decode("latin-1") for request in requests]


def converse(server, requests, pipelined=False, pieces=1, timeout=ANSWER_TIMEOUT, shut_write=False):
    """Send ``requests`` (a list of bytes) on one connection; read the responses. Returns a Conversation."""
    data = b"".join(requests)
    bounds = []
    for request in requests[:-1]:
        bounds.append((bounds[-1] if bounds else 0) + len(request))
    result = Conversation(server=server, sent=data, timeout=timeout, requests=list(requests),
                          cuts=[] if pipelined else bounds, pieces=1 if pipelined else len(requests))
    if pieces > 1:
        result.cuts = []  # the try-it line sends it whole; the report says it went in pieces
    methods = methods_of(requests)
    received = bytearray()
    with connect(server) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        batches = [data] if pipelined else list(requests)
        for number, batch in enumerate(batches):
            if not send(conn, batch, result, pieces):
                break
            result.sent_count = len(requests) if pipelined else number + 1
            if number == len(batches) - 1 and shut_write:
                conn.shutdown(socket.SHUT_WR)
            wanted = result.sent_count
            if not read_responses(conn, result, received, methods, wanted, timeout):
                break  # closed, reset or silent: nothing more to send on it
    result.received = bytes(received)
    if not pipelined:
        result.sent = b"".join(requests[:result.sent_count])
        result.cuts = bounds[:max(0, result.sent_count - 1)] if pieces == 1 else []
        result.pieces = result.sent_count * pieces
    return result


def send(conn, data, result, pieces=1):
    cuts = piece_boundaries(len(data), pieces)
    try:
        for number, (start, end) in enumerate(zip(cuts, cuts[1:])):
            if number:
                time.sleep(PIECE_PAUSE)  # a slow client, on purpose: the server must wait for the rest
            conn.sendall(data[start:end])
        return True
    except (BrokenPipeError, ConnectionResetError):
        result.reset = True
        return False


def read_responses(conn, result, received, methods, wanted, timeout):
    """Read until ``wanted`` responses are whole; False if the connection ended (or went quiet) first."""
    deadline = time.monotonic() + timeout
    while True:
        result.responses, result.problem = parse_responses(bytes(received), methods, result.closed)
        if len(result.responses) >= wanted and not result.problem:
            return True
        if result.closed or result.reset or result.problem:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            result.timed_out = True
            result.stuck = result.server.where_stuck()
            return False
        conn.settimeout(min(remaining, CRASH_POLL_INTERVAL))
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            if result.server.crash is not None:
                result.serve_crashed = True
                return False
            continue
        except ConnectionResetError:
            result.reset = True
            continue  # parse what arrived before the reset, then stop
        if not chunk:
            result.closed = True
            continue
        received += chunk


def parse_responses(raw, methods, closed):
    """The complete responses at the start of ``raw``, answering requests with ``methods`` in order.

    Returns ``(responses, problem)``: ``problem`` says why what follows the last complete response
    is not the start of another valid one (None when it may be, or nothing follows).
    """
    connection = h11.Connection(our_role=h11.CLIENT)
    responses = []
    offset = 0
    for method in methods:
        connection.send(h11.Request(method=method, target="/", headers=[("Host", "checks")]))
        connection.send(h11.EndOfMessage())
        if offset == 0:
            if raw:
                connection.receive_data(raw)
            if closed:
                connection.receive_data(b"")  # h11's way of saying the connection ended
        head, body = None, bytearray()
        try:
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return responses, None
                if isinstance(event, h11.ConnectionClosed):
                    return responses, None if head is None else "the connection closed in the middle of a response"
                if isinstance(event, h11.Response):
                    head = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
        except h11.RemoteProtocolError as problem:
            if head is None and not connection.trailing_data[0]:
                return responses, None  # the connection ended between responses: nothing more came
            return responses, f"h11 says: {problem}"
        start = raw.find(b"HTTP/", offset)
        end_of_head = raw.find(b"\r\n\r\n", start)
        responses.append(Response(
            status=head.status_code, reason=head.reason.decode("latin-1"),
            http_version=head.http_version.decode("ascii"),
            headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in head.headers],
            body=bytes(body), raw_head=raw[start:end_of_head + 4],
        ))
        offset = len(raw) - len(connection.trailing_data[0])
        if connection.their_state is h11.MUST_CLOSE or connection.our_state is h11.MUST_CLOSE:
            rest = connection.trailing_data[0]
            if rest:
                return responses, (f"{len(rest)} more bytes came after a response that ended the connection "
                                   "(it said Connection: close, or its body ran until the close)")
            return responses, None
        try:
            connection.start_next_cycle()
        except h11.LocalProtocolError:
            return responses, None
    if connection.trailing_data[0]:
        return responses, f"{len(connection.trailing_data[0])} bytes came that answer no request"
    return responses, None
