"""keep-alive — the finished server of step 5, serving many requests on each connection.

A new connection costs a handshake, a thread and a slot in the kernel's tables. So an HTTP/1.1
connection stays open after a response, for the client's next request, until either side says
``Connection: close``, the connection idles for ``KEEPALIVE_TIMEOUT`` seconds, or it has carried
``MAX_REQUESTS_PER_CONNECTION`` requests. A client may send its next request before the answer
to the last one arrives (pipelining): the answers go out in order.

By default the handler is the demo site of app.py, as in step 5, with one more route,
/api/countdown, whose body is made as it is sent and so goes out in chunks.

Run it with ``make serve STEP=keep-alive`` (or ``python server.py``) and open
http://127.0.0.1:8080/. Ctrl-C stops it. Only Python's standard library is used.
"""

import argparse
import errno
import logging
import re
import select
import signal
import socket
import sys
import threading
import time
from http import HTTPStatus

from app import create_app
from request import CHUNKED, CRLF, END_OF_HEAD, MAX_BODY_BYTES, HTTPError, lone_cr_or_lf, parse_request, read_chunk, request_size
from response import error_response

HOST = "127.0.0.1"
PORT = 8080

# How many finished handshakes the kernel may queue while we are busy
# elsewhere; a tiny backlog (the classic 5) drops clients in a burst.
BACKLOG = socket.SOMAXCONN

# Seconds a client may stay silent in the middle of a request before we hang up.
IDLE_TIMEOUT = 10.0

# Seconds a kept-open connection waits for the client's next request; then we close it, silently.
# Short, because an idle connection still holds a thread here (Apache waits 5 s; nginx, which spends
# no thread on it, 75 s). A client whose request crosses our close retries on a new connection.
KEEPALIVE_TIMEOUT = 5.0

# Requests one connection may carry; the answer to the last says Connection: close (nginx's
# keepalive_requests). No client then holds a thread for ever, and a long-lived connection's
# memory is given back now and then.
MAX_REQUESTS_PER_CONNECTION = 1000

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
# A head that may frame its body in chunks: ClientConnection then keeps the body's bytes, to find the last chunk.
TRANSFER_ENCODING = re.compile(rb"\r\nTransfer-Encoding:", re.IGNORECASE)

log = logging.getLogger("server")


class HTTPServer:
    """A thread-per-connection HTTP/1.1 server: each connection carries request after request.

    ``handler(request)`` returns the ``HTTPResponse`` for each request.
    Call ``start()``, then ``serve_forever()``; ``shutdown()`` from another thread stops it.
    """

    def __init__(self, host=HOST, port=PORT, handler=None, idle_timeout=IDLE_TIMEOUT, max_body=MAX_BODY_BYTES,
                 head_timeout=HEAD_TIMEOUT, min_body_rate=MIN_BODY_RATE, max_connections=MAX_CONNECTIONS,
                 keepalive_timeout=KEEPALIVE_TIMEOUT, max_requests=MAX_REQUESTS_PER_CONNECTION, app=None):
        self.host = host
        self.port = port
        # `app` holds create_app's options, for a demo app set up differently (the checks use it).
        self.handler = handler or create_app(**(app or {}))
        self.idle_timeout = idle_timeout
        self.max_body = max_body
        self.head_timeout = head_timeout
        self.min_body_rate = min_body_rate
        self.max_connections = max_connections
        self.keepalive_timeout = keepalive_timeout
        self.max_requests = max_requests
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

    # --8<-- [start:handle-client]
    def handle_client(self, client, address):
        """Serve one connection: request after request, until it ends, idles out, or has carried ``max_requests``."""
        with client:
            client = TimedSocket(client, self.idle_timeout)
            # >>> SOLUTION 7 #request-after-request: set TCP_NODELAY, then serve_one() while the connection stays open, waiting between requests, up to max_requests
            # Without TCP_NODELAY, a small write waits for the client to acknowledge the one before it,
            # and a client delays that acknowledgement by up to 40 ms (Nagle's algorithm meets delayed ACK).
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buffer = bytearray()  # bytes received but not parsed yet: the start of the next request
            for number in range(1, self.max_requests + 1):
                if number > 1 and not buffer and not self.wait_for_request(client, buffer):
                    return  # idle too long, or the server is stopping: close without a word
                if not self.serve_one(client, address, buffer, last=number == self.max_requests):
                    return
            # <<< SOLUTION
    # --8<-- [end:handle-client]

    def wait_for_request(self, client, buffer):
        """Wait up to ``keepalive_timeout`` for the next request to begin, and put its first bytes in ``buffer``.

        Returns False if none came: the client closed, went quiet, or the server is stopping (an idle
        connection is closed sooner then: it is between requests, so no answer is lost).
        """
        deadline = time.monotonic() + self.keepalive_timeout
        try:
            while not self._stop_requested.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                try:
                    chunk = client.recv(RECV_SIZE, timeout=min(left, ACCEPT_POLL_INTERVAL))
                except TimeoutError:
                    continue  # nothing yet: is the server stopping?
                buffer += chunk
                return bool(chunk)  # b"": the client closed
            return False
        except OSError:
            return False  # reset, or gone: nothing to serve

    def serve_one(self, client, address, buffer, last=False):
        """Read one request (``buffer`` may hold its start already) and answer it.

        Returns whether the connection stays open for another: the client asked for that, the
        response could be framed, it was not refused, and it was not the ``last`` one allowed.
        """
        unread = False
        keep_open = False
        try:
            connection = ClientConnection(client, self.idle_timeout, self.head_timeout, self.min_body_rate,
                                          self.max_body, already=buffer)
            request = read_request(connection, buffer, self.max_body)
            if request is None:
                return False  # the client left without sending a request
            check_expectation(request)
            request.client = address[0]
            keep_open = keeps_open(request) and not last and not self._stop_requested.is_set()
            response = self.respond(request)
            response.client_version = request.version
            if request.method == "HEAD":
                response.send_body = False  # a HEAD response is the head alone, whatever it says
        except HTTPError as refused:
            response = error_response(refused.status, refused.message)
            unread = True  # the client may still be sending what we refused
        except TimeoutError:
            response = error_response(HTTPStatus.REQUEST_TIMEOUT, "the request did not arrive in time")
            unread = connection.received > 0  # a slow client may still be sending; a silent one is not
        except ConnectionError:
            return False
        response.keep_alive = keep_open
        try:
            response.write_to(client)
        except (ConnectionError, TimeoutError):
            return False  # the client is gone, or stopped reading: nobody is left to tell
        except Exception:
            # A streamed body failed half-way: its head is sent, so no error page can follow. Closing now,
            # without the last chunk or all of Content-Length, is how the client learns the body was cut short.
            log.exception("sending the body of a %d answer failed half-way", response.status)
            return False
        if response.closes_connection:
            close_gracefully(client, linger=unread)
            return False
        return True

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
                 max_body=MAX_BODY_BYTES, already=b""):
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
        self.body = None  # a chunked body's bytes so far (only then: the chunks say where it ends)
        self.next_chunk = 0  # where in self.body the next chunk starts
        self._take(already, len(already))  # what came with the request before: the start of this one

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
        return self.client.recv(size, timeout=min(self.idle_timeout, left))

    def _take(self, chunk, pending):
        """Note ``chunk``; whether the parser should now see the ``pending`` bytes."""
        self.received += len(chunk)
        as_they_come = self.pieces < PIECES_AS_THEY_COME
        if self.head_ended:
            self.deadline += len(chunk) / self.min_body_rate
            if self.body is not None:
                self.body += chunk
            if as_they_come:
                return True
            size = self._size()
            if size == CHUNKED:
                return self._last_chunk_arrived()
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
        if TRANSFER_ENCODING.search(self.head, 0, end + len(CRLF)):
            self.body = self.head[end + len(END_OF_HEAD):]
        del self.head[end + len(END_OF_HEAD):]
        self.deadline = time.monotonic() + self.idle_timeout + body / self.min_body_rate
        return True  # the parser checks the head before anyone waits for a body

    def _last_chunk_arrived(self):
        """Whether the chunked body is all here, reading each chunk once, as it completes; or it cannot be read."""
        if self.body is None:
            return True  # its bytes were not kept: let the parser look
        try:
            while True:
                chunk = read_chunk(self.body, self.next_chunk, self.max_body)
                if chunk is None:
                    return False
                piece, self.next_chunk = chunk
                if not piece:
                    return True
        except HTTPError:
            return True  # parse_request() will say what is wrong, with the head in front of it

    def _size(self):
        """The whole request's size, head and body (or CHUNKED), worked out the first time batching needs it; None if unknown."""
        if self.size is UNKNOWN:
            try:
                self.size = request_size(bytes(self.head), self.max_body)
            except Exception:  # whatever it is, parse_request() will say it, with the head in front of it
                self.size = None
        return self.size


class TimedSocket:
    """The client's socket, non-blocking, with each wait done here: a call that need not wait is one system call.

    A socket given a timeout (``settimeout()``) calls ``poll()`` before every ``recv()`` and ``send()``,
    to wait until the kernel is ready; and every system call is a moment when another thread may take
    Python's lock. On a kept-open connection that is two calls of the five a request costs, and about a
    quarter of the requests a second (``make bench STEP=keep-alive KEEPALIVE=1`` shows it). So this one
    tries first, and waits with ``poll()`` only when the kernel says the call would block.

    ``recv()`` waits at most ``timeout`` seconds (or the ``timeout`` it is given), ``sendall()`` at most
    ``timeout`` seconds in all, as a socket's own would; then they raise ``TimeoutError``. Anything
    else (``setsockopt()``, ``shutdown()``, ``fileno()``, ...) is the socket's own.
    """

    def __init__(self, client, timeout):
        client.setblocking(False)
        self.client = client
        self.timeout = timeout

    def recv(self, size, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                return self.client.recv(size)
            except BlockingIOError:
                self._wait_until(deadline)

    def sendall(self, data):
        deadline = time.monotonic() + self.timeout
        unsent = memoryview(data)
        while unsent:
            try:
                unsent = unsent[self.client.send(unsent):]
            except BlockingIOError:
                self._wait_until(deadline, writing=True)

    def _wait_until(self, deadline, writing=False):
        left = deadline - time.monotonic()
        if left <= 0 or not ready_within(self.client, left, writing):
            raise TimeoutError("timed out")

    def __getattr__(self, name):
        return getattr(self.client, name)


def ready_within(client, seconds, writing=False):
    """Whether ``client`` can be read (it has bytes, or has closed), or written if ``writing``, within ``seconds``."""
    if hasattr(select, "poll"):
        waiting = select.poll()  # not select.select(): it fails on a descriptor numbered 1,024 or more
        waiting.register(client, select.POLLOUT if writing else select.POLLIN)
        return bool(waiting.poll(seconds * 1000))
    ready = select.select([] if writing else [client], [client] if writing else [], [], seconds)  # Windows: no poll()
    return bool(ready[0] or ready[1])


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
        while client.recv(RECV_SIZE, timeout=max(0.0, deadline - time.monotonic())):  # 0.0: only what is already there
            pass
    except OSError:
        pass  # nothing more yet (TimeoutError), reset, or gone: we tried


# --8<-- [start:keeps-open]
def keeps_open(request):
    """Whether the client lets the connection stay open after this request (RFC 9112, section 9.3)."""
    # >>> SOLUTION 5 #who-closes: decide from the Connection field and the version whether the connection stays open
    options = {option.strip(" \t").lower() for field in request.headers.get_all("Connection") for option in field.split(",")}
    if "close" in options:
        return False
    return request.version == "HTTP/1.1" or "keep-alive" in options
    # <<< SOLUTION
# --8<-- [end:keeps-open]


# --8<-- [start:read-request]
def read_request(client, buffer, max_body=MAX_BODY_BYTES):
    """Receive from ``client`` until a whole request is in ``buffer``; take it out and return it.

    What follows the request in ``buffer`` stays there: it is the start of the next one (a client
    may send several requests in one go). Returns ``None`` if the client hangs up before sending
    anything. Raises ``HTTPError`` for a request we refuse, ``TimeoutError`` if the client goes quiet.
    """
    while True:
        # >>> SOLUTION 6 #pipelining: when a request is whole, take only its bytes out of buffer: the rest starts the next request
        parsed = parse_request(buffer, max_body)
        if parsed is not None:
            request, used = parsed
            del buffer[:used]  # the rest is the next request's
            return request
        # <<< SOLUTION
        chunk = client.recv(RECV_SIZE)
        if not chunk:
            if buffer:
                raise HTTPError(HTTPStatus.BAD_REQUEST, "the connection ended in the middle of the request")
            return None
        buffer += chunk
# --8<-- [end:read-request]


def main(argv=None):
    parser = argparse.ArgumentParser(description="keep-alive: the finished server, keeping connections open.")
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
