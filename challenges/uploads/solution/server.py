"""The uploads extension — the finished step 5 server, which takes files from a form as they arrive.

``HTTPServer`` reads a request, calls its handler and sends the response. By
default the handler is the demo site of app.py: a ``Router`` inside a
``Pipeline`` of middleware (middleware.py) that logs every request, answers
CORS, and asks for a token on the private API. A multipart/form-data body is
not read before the handler runs: the handler reads it from ``request.stream``
as it arrives (``BodyStream``), and uploads.py parses it piece by piece.

Run it with ``make serve STEP=uploads`` (or ``python server.py``) and open
http://127.0.0.1:8080/. Ctrl-C stops it. Only Python's standard library is used.
"""

import argparse
import errno
import logging
import re
import signal
import socket
import sys
import threading
import time
from http import HTTPStatus

from app import create_app
from request import END_OF_HEAD, MAX_BODY_BYTES, HTTPError, lone_cr_or_lf, parse_request, request_size
from response import error_response

HOST = "127.0.0.1"
PORT = 8080

# How many finished handshakes the kernel may queue while we are busy
# elsewhere; a tiny backlog (the classic 5) drops clients in a burst.
BACKLOG = socket.SOMAXCONN

# Seconds a client may stay silent before we hang up.
IDLE_TIMEOUT = 10.0

# Seconds accept() waits before the loop checks whether shutdown() was called.
ACCEPT_POLL_INTERVAL = 0.2

# How many bytes to ask for per recv() call. recv() may return fewer.
RECV_SIZE = 64 * 1024

# The whole head must arrive within this many seconds, however slowly it trickles in. The idle timeout
# alone is not enough: a client that sends one byte every few seconds is never idle for long, and
# could hold its thread for hours (the "slowloris" attack). nginx's client_header_timeout is the same idea.
HEAD_TIMEOUT = 20.0

# After the head, the body must keep arriving at this many bytes a second on average, counted from one
# idle timeout after the head ended: a 1 MiB upload may take half an hour, a byte every few seconds is
# cut off soon after the idle timeout.
MIN_BODY_RATE = 500

# The parser is asked again after every piece of a request that arrives, up to this many pieces: most
# requests come in a few. A client that needs more is trickling, or hostile; from then on its bytes are
# handed over in batches the parser can use, so that parsing stays linear in the bytes received.
PIECES_AS_THEY_COME = 100

# In batches, the head is handed over at least every this many bytes (sooner when it ends, or a line ends
# with a lone CR or LF), so that a limit is noticed within a few KiB of being passed.
HEAD_BATCH = 4 * 1024

# The most connections served at once. Each holds a thread and a file descriptor; past this many, a new
# client gets a quick 503 Service Unavailable instead of a share of a server that has nothing left.
MAX_CONNECTIONS = 512

# Seconds a client turned away with 503 is asked to wait before trying again (the Retry-After field).
RETRY_AFTER = 1

# Seconds the accept loop rests when accept() fails for want of resources (no file descriptor left, say):
# the connections being served will finish and free some. Retrying at once would only spin.
ACCEPT_RETRY_DELAY = 0.1

# How accept() and Thread.start() say the process is short of something for now: file descriptors
# (its own or the system's), buffer space, memory. Connections being served will finish and give them back.
SHORTAGES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

# After answering, at most this many seconds go to reading (and dropping) what the client still sends:
# closing a socket that has unread bytes makes the kernel reset the connection, and a reset can destroy
# the answer before the client has read it.
LINGER_TIMEOUT = 2.0

# Seconds a stopping server (Ctrl-C, or SIGTERM from a process manager) gives the requests in flight.
SHUTDOWN_GRACE = 10.0

# Seconds between looks at a pending Ctrl-C while waiting for the requests in flight. The kernel hands a signal
# to any thread, but Python acts on it only in the main thread, when that thread runs: a main thread blocked
# in one long wait would not feel a second Ctrl-C that landed on a client's thread until the wait ended.
SIGNAL_CHECK_INTERVAL = 0.2

# ClientConnection.size before anyone has asked for it.
UNKNOWN = object()

# The interim answer that tells a client waiting with "Expect: 100-continue" to send its body.
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
EXPECT_CONTINUE = re.compile(rb"\r\nExpect:[ \t]*100-continue[ \t]*\r\n", re.IGNORECASE)

log = logging.getLogger("server")


class HTTPServer:
    """A thread-per-connection HTTP/1.1 server: one request per connection, then close.

    ``handler(request)`` returns the ``HTTPResponse`` for each request.
    Call ``start()``, then ``serve_forever()``; ``shutdown()`` from another thread stops it.
    """

    def __init__(self, host=HOST, port=PORT, handler=None, idle_timeout=IDLE_TIMEOUT, max_body=MAX_BODY_BYTES,
                 head_timeout=HEAD_TIMEOUT, min_body_rate=MIN_BODY_RATE, max_connections=MAX_CONNECTIONS,
                 app=None):
        self.host = host
        self.port = port
        # `app` holds create_app's options, for a demo app set up differently (the checks use it).
        self.handler = handler or create_app(**(app or {}))
        self.idle_timeout = idle_timeout
        self.max_body = max_body
        self.head_timeout = head_timeout
        self.min_body_rate = min_body_rate
        self.max_connections = max_connections
        self.socket = None
        self._connections = 0  # being served now; counted under the lock of _connections_changed
        self._connections_changed = threading.Condition()
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()  # not serving yet, so shutdown() has nothing to wait for

    def start(self):
        """Create the listening socket. Afterwards ``self.port`` is the real port."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(BACKLOG)
        self.socket = listener
        self.port = listener.getsockname()[1]

    def serve_forever(self):
        """Accept clients until ``shutdown()``; each one is served by its own thread."""
        self._stopped.clear()
        self.socket.settimeout(ACCEPT_POLL_INTERVAL)
        try:
            while not self._stop_requested.is_set():
                try:
                    client, address = self.socket.accept()
                except TimeoutError:
                    continue
                except OSError as error:
                    if not out_of_resources(error):
                        raise
                    log.warning("accept() failed (%s); trying again in %g s", error.strerror or error,
                                ACCEPT_RETRY_DELAY)
                    self._stop_requested.wait(ACCEPT_RETRY_DELAY)
                    continue
                self.dispatch(client, address)
        finally:
            self.socket.close()
            self._stopped.set()

    def shutdown(self):
        """Stop ``serve_forever()`` and release the port. Call it from another thread."""
        self._stop_requested.set()
        self._stopped.wait()

    def dispatch(self, client, address):
        """Serve ``client`` on a thread of its own, or turn it away with a 503 when there is no room."""
        with self._connections_changed:
            room = self._connections < self.max_connections
            if room:
                self._connections += 1
        if not room:
            refuse_busy(client, f"the server is serving its limit of {self.max_connections} connections")
            return
        try:
            threading.Thread(target=self.serve_client, args=(client, address), daemon=True).start()
        except RuntimeError:  # "can't start new thread": out of memory, or over the process's limit
            self._connection_ended()
            refuse_busy(client, "the server cannot start another thread just now")

    def serve_client(self, client, address):
        """``handle_client()``, then make room for the next connection, however it ended."""
        try:
            self.handle_client(client, address)
        finally:
            self._connection_ended()

    def _connection_ended(self):
        with self._connections_changed:
            self._connections -= 1
            self._connections_changed.notify_all()

    def wait_until_idle(self, timeout):
        """Wait until no connection is being served, or ``timeout`` seconds; True if none is left."""
        deadline = time.monotonic() + timeout
        with self._connections_changed:
            while self._connections and (left := deadline - time.monotonic()) > 0:
                self._connections_changed.wait(min(left, SIGNAL_CHECK_INTERVAL))
            return self._connections == 0

    def handle_client(self, client, address):
        """Serve one connection: read a request, answer it, close."""
        with client:
            client.settimeout(self.idle_timeout)
            unread = False
            try:
                connection = ClientConnection(client, self.idle_timeout, self.head_timeout, self.min_body_rate,
                                              self.max_body)
                request = read_request(connection, self.max_body)
                if request is None:
                    return  # the client left without sending a request
                check_expectation(request)
                request.client = address[0]
                response = self.respond(request)
                if request.method == "HEAD":
                    response.send_body = False  # a HEAD response is the head alone, whatever it says
                unread = request.stream is not None and not request.stream.finished  # a body the handler left
            except HTTPError as refused:
                response = error_response(refused.status, refused.message)
                unread = True  # the client may still be sending what we refused
            except TimeoutError:
                response = error_response(HTTPStatus.REQUEST_TIMEOUT, "the request did not arrive in time")
                unread = connection.received > 0  # a slow client may still be sending; a silent one is not
            except ConnectionError:
                return
            try:
                response.write_to(client)
            except (ConnectionError, TimeoutError):
                return  # the client is gone, or stopped reading: nobody is left to tell
            close_gracefully(client, linger=unread)

    def respond(self, request):
        """The handler's response to ``request``; a 500 page if the handler fails."""
        try:
            return self.handler(request)
        except Exception:
            # The traceback is for us, in the server's log, never for the client: it can reveal code and secrets.
            log.exception("the handler failed on %s %s", request.method, request.target)
            return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Something went wrong on our side.")


class ClientConnection:
    """The client's socket as ``read_request()`` sees it: ``recv()``, kept to deadlines and sized for the parser.

    Each ``recv()`` waits at most the idle timeout, as before, and never past the request's deadline:
    the whole head within ``head_timeout``; then the body at ``min_body_rate`` bytes a second on average.
    The first PIECES_AS_THEY_COME pieces it hands over as they come. After that, only when the parser
    can do something with them: the head once it has ended, or holds a lone CR or LF, or every
    HEAD_BATCH bytes; then the whole body at once. A client that sends a byte at a time then costs a
    hundred parses or so, not one per byte. And when the parser asks for a body that the client will
    send only once told to (``Expect: 100-continue``), it says ``100 Continue`` first.
    """

    def __init__(self, client, idle_timeout, head_timeout=HEAD_TIMEOUT, min_body_rate=MIN_BODY_RATE,
                 max_body=MAX_BODY_BYTES):
        self.client = client
        self.idle_timeout = idle_timeout
        self.min_body_rate = min_body_rate
        self.max_body = max_body
        self.deadline = time.monotonic() + head_timeout
        self.head = bytearray()  # what arrived until the blank line that ends the head
        self.head_ended = False
        self.size = UNKNOWN  # of the whole request, head and body: see _size()
        self.received = 0  # bytes, head and body
        self.pieces = 0  # handed to read_request so far
        self.continue_sent = False

    def recv(self, size):
        if self.head_ended and self.received == len(self.head) and not self.continue_sent \
                and wants_continue(self.head):
            self.client.sendall(CONTINUE)
            self.continue_sent = True
        pending = bytearray()
        while True:
            chunk = self._recv_in_time(size)
            pending += chunk
            if self._take(chunk, len(pending)) or not chunk:
                self.pieces += 1
                return bytes(pending)

    def _recv_in_time(self, size):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self.client.settimeout(min(self.idle_timeout, left))
        try:
            return self.client.recv(size)
        finally:
            self.client.settimeout(self.idle_timeout)

    def _take(self, chunk, pending):
        """Note ``chunk``; whether the parser should now see the ``pending`` bytes."""
        self.received += len(chunk)
        as_they_come = self.pieces < PIECES_AS_THEY_COME
        if self.head_ended:
            self.deadline += len(chunk) / self.min_body_rate
            if as_they_come:
                return True
            size = self._size()
            return size is None or self.received >= size
        searched = max(0, len(self.head) - len(END_OF_HEAD) + 1)
        self.head += chunk
        end = self.head.find(END_OF_HEAD, searched)
        if end == -1:
            if as_they_come:
                return True
            # The new bytes, and the one before them (a CR that may turn out lone); an LF there was judged already.
            latest = self.head[-len(chunk) - 1:].removeprefix(b"\n")
            return pending >= HEAD_BATCH or lone_cr_or_lf(latest, -1)
        self.head_ended = True
        body = len(self.head) - end - len(END_OF_HEAD)
        del self.head[end + len(END_OF_HEAD):]
        self.deadline = time.monotonic() + self.idle_timeout + body / self.min_body_rate
        return True  # the parser checks the head before anyone waits for a body

    def _size(self):
        """The whole request's size, head and body, worked out the first time batching needs it; None if unknown."""
        if self.size is UNKNOWN:
            try:
                self.size = request_size(bytes(self.head), self.max_body)
            except Exception:  # whatever it is, parse_request() will say it, with the head in front of it
                self.size = None
        return self.size


class BodyStream:
    """A body that the handler reads as it arrives: ``read(size)`` gives its next bytes, at most ``size``, b"" at the end.

    As a file's ``read()``, ``read(-1)`` (or ``read(None)``) gives all the rest, and ``read(0)`` gives b"".

    It reads the connection, never past the body's length, within the same deadlines as the rest of
    the request; a client that stops sending, or leaves, is an HTTPError for the server to answer.
    """

    def __init__(self, connection, received, length):
        self.connection = connection
        self.received = bytes(received[:length])  # what came with the head, not handed on yet
        self.left = length - len(self.received)  # still to come from the connection

    @property
    def finished(self):
        return not self.received and self.left == 0

    def read(self, size=RECV_SIZE):
        if size is None or size < 0:
            return b"".join(iter(self.read, b""))
        if size == 0:
            return b""
        if self.received:
            piece, self.received = self.received[:size], self.received[size:]
            return piece
        if self.left == 0:
            return b""
        try:
            piece = self.connection.recv(min(size, self.left))
        except TimeoutError:
            raise HTTPError(HTTPStatus.REQUEST_TIMEOUT, "the body did not arrive in time") from None
        except ConnectionError:
            piece = b""  # reset: gone, like a client that closed
        if not piece:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "the connection ended in the middle of the body")
        self.left -= len(piece)
        return piece


def wants_continue(head):
    """Whether an HTTP/1.1 ``head`` asks for ``100 Continue`` (an HTTP/1.0 one must be ignored: RFC 9110, 10.1.1)."""
    request_line = head.split(b"\r\n", 1)[0]
    return request_line.endswith(b" HTTP/1.1") and EXPECT_CONTINUE.search(head) is not None


def check_expectation(request):
    """Refuse with 417 an ``Expect`` this server cannot meet: it knows only ``100-continue``."""
    expectation = request.headers.get("Expect")
    if expectation is not None and expectation.strip().lower() != "100-continue":
        raise HTTPError(HTTPStatus.EXPECTATION_FAILED, "this server knows only the expectation 100-continue")


def refuse_busy(client, why):
    """Answer ``client`` 503 with Retry-After, and close; never wait on it (the accept loop calls this)."""
    response = error_response(HTTPStatus.SERVICE_UNAVAILABLE, f"Too busy: {why}. Please try again shortly.")
    response.headers["Retry-After"] = str(RETRY_AFTER)
    with client:
        try:
            client.setblocking(False)  # a small answer fits the socket's buffer; a client that reads nothing can't stall us
            client.send(response.to_bytes())
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def close_gracefully(client, linger):
    """End our side of the connection, and read what the client still sends before we close.

    Closing a socket that still holds unread bytes (the rest of a body we refused, say) makes the
    kernel reset the connection, and a reset can destroy the answer before the client reads it.
    So: send the end of our stream, then read what has already arrived; and when the client may
    still be sending (``linger``), go on reading until it closes too, or LINGER_TIMEOUT passes.
    """
    try:
        client.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + (LINGER_TIMEOUT if linger else 0)
        while True:
            left = deadline - time.monotonic()
            client.settimeout(left if left > 0 else 0.0)  # 0.0: only what is already there
            if not client.recv(RECV_SIZE):
                return
    except OSError:
        pass  # nothing more yet (BlockingIOError), timed out, reset, or gone: we tried


def read_request(client, max_body=MAX_BODY_BYTES):
    """Receive from ``client`` until a whole request has arrived; return it.

    Returns ``None`` if the client hangs up before sending anything. Raises
    ``HTTPError`` for a request we refuse, ``TimeoutError`` if the client goes quiet.
    """
    received = bytearray()
    while True:
        parsed = parse_request(received, max_body)
        if parsed is not None:
            request, used = parsed
            if request.streamed_length is not None:
                request.stream = BodyStream(client, received[used:], request.streamed_length)
            return request
        chunk = client.recv(RECV_SIZE)
        if not chunk:
            if received:
                raise HTTPError(HTTPStatus.BAD_REQUEST, "the connection ended in the middle of the request")
            return None
        received += chunk


def main(argv=None):
    parser = argparse.ArgumentParser(description="The uploads extension: the demo site, with a form that takes files.")
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = HTTPServer(args.host, args.port)
    server.start()
    return serve_until_stopped(server, f"Serving the demo site on http://{server.host}:{server.port} — press Ctrl-C to stop")


def out_of_resources(error):
    """Whether ``error`` says the process ran short of something that comes back: not a bug, but a busy minute."""
    if isinstance(error, RuntimeError):
        return str(error) == "can't start new thread"
    return isinstance(error, OSError) and error.errno in SHORTAGES


def serve_until_stopped(server, announcement):
    """Print ``announcement``, serve until Ctrl-C or SIGTERM, then stop accepting and let the requests in flight finish.

    Returns the exit code: 0 when every request finished, 1 when some were cut off, because
    ``SHUTDOWN_GRACE`` ran out or a second Ctrl-C (or SIGTERM) said not to wait.
    """
    # SIGTERM is how process managers (systemd, Docker, Kubernetes) ask a server to stop: treat it like Ctrl-C.
    # Both are set here, not left to Python: a program started in the background by a script begins with
    # SIGINT ignored, and one running as a container's first process ignores SIGTERM until it says otherwise.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    # Only now, with the handlers set, may anyone be told the server is up: a script that reads this line
    # and stops the server at once must not find SIGINT still ignored.
    print(announcement, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass  # serve_forever() closed the listening socket on its way out: no new clients from here on
    finished = False
    try:
        print(f"\nStopping: the requests in flight get up to {SHUTDOWN_GRACE:g} s to finish "
              "(press Ctrl-C again to stop now).", flush=True)
        finished = server.wait_until_idle(SHUTDOWN_GRACE)
    except KeyboardInterrupt:
        pass  # a second Ctrl-C or SIGTERM: stop now
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # decided: one more signal must not turn the exit into a traceback
    print("Stopped: the port is free again." if finished else
          "Stopped before every request had finished.", flush=True)
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
