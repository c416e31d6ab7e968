"""Step 1 — socket: a TCP server that answers every browser with one page.

HTTP is text sent over a TCP connection. This file does the TCP half:

* ``HTTPServer.start()`` opens a listening socket (bind + listen);
* ``HTTPServer.serve_forever()`` accepts connections, one thread per client,
  until another thread calls ``HTTPServer.shutdown()``;
* ``HTTPServer.handle_client()`` reads the request head (everything up to the
  blank line), sends back a fixed page, and closes the connection.

Run it with ``make serve STEP=1`` (or ``python server.py --port 8080``) and
open http://127.0.0.1:8080 in a browser. Grade it with ``make check STEP=1``.
Only Python's standard library is used.
"""

import argparse
import errno
import signal
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
PORT = 8080

# How many finished handshakes the kernel may queue while we are busy
# elsewhere. With a tiny backlog (the classic 5), a burst of clients overflows
# the queue and the kernel drops their SYNs: they wait a second or more to
# retry. SOMAXCONN asks for the largest queue the system allows.
BACKLOG = socket.SOMAXCONN

# Seconds a client may stay silent before we hang up. Without a timeout, a
# client that connects and says nothing holds its thread forever.
IDLE_TIMEOUT = 10.0

# Seconds accept() waits before the loop checks whether shutdown() was called.
ACCEPT_POLL_INTERVAL = 0.2

# Seconds the accept loop rests when accept() fails for want of resources (no file descriptor left, say):
# the connections being served will finish and free some. Retrying at once would only spin.
ACCEPT_RETRY_DELAY = 0.1

# How accept() and Thread.start() say the process is short of something for now: file descriptors
# (its own or the system's), buffer space, memory. Connections being served will finish and give them back.
SHORTAGES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

# Seconds a stopping server (Ctrl-C, or SIGTERM from a process manager) gives the clients being served.
SHUTDOWN_GRACE = 10.0

# Seconds between looks at a pending Ctrl-C while waiting for the requests in flight. The kernel hands a signal
# to any thread, but Python acts on it only in the main thread, when that thread runs: a main thread blocked
# in one long wait would not feel a second Ctrl-C that landed on a client's thread until the wait ended.
SIGNAL_CHECK_INTERVAL = 0.2

# A request head is the request line and the headers, ended by a blank line.
END_OF_HEAD = b"\r\n\r\n"

# The most bytes of request head we are willing to hold in memory.
# 64 KiB is a common limit among real servers.
MAX_HEAD_BYTES = 64 * 1024

# How many bytes to ask for per recv() call. recv() may return fewer.
RECV_SIZE = 4096

# The page every request gets. The em dash is there on purpose: it is one
# character but three bytes in UTF-8, and Content-Length counts bytes.
PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>It works</title></head>
<body>
<h1>Hello from your own server — it works!</h1>
<p>This page came from a Python socket, one byte at a time.</p>
</body>
</html>
"""


class HTTPServer:
    """A thread-per-connection TCP server that answers every request with ``PAGE``.

    Call ``start()`` to listen, ``serve_forever()`` to accept clients, and
    ``shutdown()`` (from another thread) to stop. Pass ``port=0`` to let the
    operating system pick a free port; ``self.port`` holds the real one after
    ``start()``.
    """

    def __init__(self, host=HOST, port=PORT, idle_timeout=IDLE_TIMEOUT):
        self.host = host
        self.port = port
        self.idle_timeout = idle_timeout
        self.socket = None
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()  # not serving yet, so shutdown() has nothing to wait for

    # --8<-- [start:start]
    def start(self):
        """Create the listening socket. Afterwards ``self.port`` is the real port."""
        # >>> SOLUTION 1 #opening-a-listening-socket: create, bind and listen; then read back the port the OS chose
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Let a restarted server bind the port again at once, instead of
        # waiting for the old connections' TIME_WAIT to expire.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(BACKLOG)
        self.socket = listener
        self.port = listener.getsockname()[1]  # port 0 becomes a real port here
        # <<< SOLUTION
    # --8<-- [end:start]

    # --8<-- [start:serve_forever]
    def serve_forever(self):
        """Accept clients until ``shutdown()``; each one is served by its own thread."""
        self._stopped.clear()
        # A timeout on accept() lets the loop notice shutdown() promptly.
        self.socket.settimeout(ACCEPT_POLL_INTERVAL)
        try:
            while not self._stop_requested.is_set():
                try:
                    # >>> SOLUTION 2 #one-thread-per-client: accept one connection and hand it to a new thread
                    try:
                        client, address = self.socket.accept()
                    except TimeoutError:
                        continue  # nobody came: loop round and check for shutdown
                    worker = threading.Thread(
                        target=self.handle_client, args=(client, address), daemon=True
                    )
                    worker.start()
                    # <<< SOLUTION
                except (OSError, RuntimeError) as error:
                    if not out_of_resources(error):
                        raise  # a bug to see, not a shortage to wait out (TODO 2 handles accept()'s timeout)
                    # Out of file descriptors (EMFILE), memory, or threads ("can't start new thread"): a server
                    # that stops here leaves every client unanswered. Rest, let connections finish, go on.
                    print(f"Could not take a new client ({error}); trying again in {ACCEPT_RETRY_DELAY:g} s")
                    self._stop_requested.wait(ACCEPT_RETRY_DELAY)
        finally:
            self.socket.close()
            self._stopped.set()
    # --8<-- [end:serve_forever]

    def shutdown(self):
        """Stop ``serve_forever()`` and release the port. Call it from another thread."""
        self._stop_requested.set()
        self._stopped.wait()

    def wait_until_idle(self, timeout):
        """Wait until the threads serving clients have ended, or ``timeout`` seconds; True if none is left."""
        deadline = time.monotonic() + timeout
        # The client threads of TODO 2 are daemons; the main thread is not.
        while busy := [thread for thread in threading.enumerate() if thread.daemon and thread.is_alive()]:
            if (left := deadline - time.monotonic()) <= 0:
                return False
            busy[0].join(min(left, SIGNAL_CHECK_INTERVAL))
        return True

    # --8<-- [start:handle_client]
    def handle_client(self, client, address):
        """Serve one connection: read the request head, send the page, close."""
        # >>> SOLUTION 3 #serving-one-client: set a timeout, read the head, send the whole response, always close
        with client:  # closes the connection however we leave this block
            client.settimeout(self.idle_timeout)
            try:
                head = read_head(client)
                if head is None:
                    return  # the client hung up before its head was complete: nothing to answer
                client.sendall(build_response(PAGE))  # sendall loops until every byte is out
            except (TimeoutError, ConnectionError):
                return  # silent or vanished client (even after its request): just hang up
        # <<< SOLUTION
    # --8<-- [end:handle_client]


# --8<-- [start:read_head]
def read_head(client):
    """Read from ``client`` until the blank line that ends the request head.

    Returns the head (including the blank line), or ``None`` when the client
    hung up first or sent more than ``MAX_HEAD_BYTES`` without finishing.
    Raises ``socket.timeout`` (``TimeoutError``) when the client goes silent.
    """
    # >>> SOLUTION 4 #reading-until-the-blank-line: loop on recv() until the head ends with a blank line
    received = bytearray()
    while END_OF_HEAD not in received:
        if len(received) > MAX_HEAD_BYTES:
            return None
        chunk = client.recv(RECV_SIZE)
        if not chunk:  # b"" means the client closed its side
            return None
        received += chunk
    return bytes(received)
    # <<< SOLUTION
# --8<-- [end:read_head]


# --8<-- [start:build_response]
def build_response(body):
    """Return the bytes of a complete ``200 OK`` response carrying ``body`` (a str)."""
    # >>> SOLUTION 5 #writing-the-response: encode the body, then build the status line and headers around it
    body_bytes = body.encode("utf-8")
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body_bytes)}\r\n"  # bytes, not characters
        "Connection: close\r\n"  # we close after one response: say so
        "\r\n"
    )
    return head.encode("ascii") + body_bytes
    # <<< SOLUTION
# --8<-- [end:build_response]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Step 1: a socket server that serves one page.")
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args(argv)
    server = HTTPServer(args.host, args.port)
    server.start()
    return serve_until_stopped(server, f"Serving on http://{server.host}:{server.port} — press Ctrl-C to stop")


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
