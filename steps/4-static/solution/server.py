"""Step 4 — static files: the server of step 3, now also serving a folder of files.

``HTTPServer`` reads a request, calls its handler (by default the demo app of
app.py, a ``Router``) and sends the response. Responses may now stream their
body: ``response.write_to(client)`` sends a large file piece by piece, so the
server never holds it whole in memory.

Run it with ``make serve STEP=4`` and open http://127.0.0.1:8080/. Only
Python's standard library is used.
"""

import argparse
import logging
import socket
import threading
from http import HTTPStatus

from app import create_app
from request import MAX_BODY_BYTES, HTTPError, parse_request
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

log = logging.getLogger("server")


class HTTPServer:
    """A thread-per-connection HTTP/1.1 server: one request per connection, then close.

    ``handler(request)`` returns the ``HTTPResponse`` for each request.
    Call ``start()``, then ``serve_forever()``; ``shutdown()`` from another thread stops it.
    """

    def __init__(self, host=HOST, port=PORT, handler=None, idle_timeout=IDLE_TIMEOUT, max_body=MAX_BODY_BYTES,
                 app=None):
        self.host = host
        self.port = port
        # `app` holds create_app's options, for a demo app set up differently (the checks use it).
        self.handler = handler or create_app(**(app or {}))
        self.idle_timeout = idle_timeout
        self.max_body = max_body
        self.socket = None
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
                worker = threading.Thread(target=self.handle_client, args=(client, address), daemon=True)
                worker.start()
        finally:
            self.socket.close()
            self._stopped.set()

    def shutdown(self):
        """Stop ``serve_forever()`` and release the port. Call it from another thread."""
        self._stop_requested.set()
        self._stopped.wait()

    def handle_client(self, client, address):
        """Serve one connection: read a request, answer it, close."""
        with client:
            client.settimeout(self.idle_timeout)
            try:
                request = read_request(client, self.max_body)
                if request is None:
                    return  # the client left without sending a request
                response = self.respond(request)
                if request.method == "HEAD":
                    response.send_body = False  # a HEAD response is the head alone, whatever it says
            except HTTPError as refused:
                response = error_response(refused.status, refused.message)
            except TimeoutError:
                response = error_response(HTTPStatus.REQUEST_TIMEOUT, "the request did not arrive in time")
            except ConnectionError:
                return
            try:
                response.write_to(client)
            except (ConnectionError, TimeoutError):
                pass  # the client is gone, or stopped reading: nobody is left to tell

    def respond(self, request):
        """The handler's response to ``request``; a 500 page if the handler fails."""
        try:
            return self.handler(request)
        except Exception:
            # The traceback is for us, in the server's log, never for the client: it can reveal code and secrets.
            log.exception("the handler failed on %s %s", request.method, request.target)
            return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Something went wrong on our side.")


def read_request(client, max_body=MAX_BODY_BYTES):
    """Receive from ``client`` until a whole request has arrived; return it.

    Returns ``None`` if the client hangs up before sending anything. Raises
    ``HTTPError`` for a request we refuse, ``TimeoutError`` if the client goes quiet.
    """
    received = bytearray()
    while True:
        parsed = parse_request(received, max_body)
        if parsed is not None:
            request, _ = parsed
            return request
        chunk = client.recv(RECV_SIZE)
        if not chunk:
            if received:
                raise HTTPError(HTTPStatus.BAD_REQUEST, "the connection ended in the middle of the request")
            return None
        received += chunk


def main(argv=None):
    parser = argparse.ArgumentParser(description="Step 4: a server that also serves static files.")
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = HTTPServer(args.host, args.port)
    server.start()
    print(f"Serving on http://{server.host}:{server.port} — press Ctrl-C to stop")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nStopped.")


if __name__ == "__main__":
    main()
