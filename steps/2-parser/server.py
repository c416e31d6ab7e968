"""Step 2 — parser: a server that reads whole requests and answers every one properly.

Step 1's socket server, now with a real request reader and a handler:

* ``read_request(client)`` receives bytes until ``parse_request`` (request.py)
  has a whole request, head and body;
* ``HTTPServer.respond(request)`` calls the handler, which returns an
  ``HTTPResponse`` (response.py); if the handler fails, the client gets a 500;
* a request we must refuse (``HTTPError``) gets its status: 400, 413, 414, 431, 505...

Run it with ``make serve STEP=2`` and open http://127.0.0.1:8080/anything?you=like:
the demo handler shows the request your parser made of it. Only Python's
standard library is used.
"""

import argparse
import html
import json
import logging
import socket
import threading
from http import HTTPStatus

from request import MAX_BODY_BYTES, HTTPError, parse_request
from response import HTTPResponse, error_response

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

    def __init__(self, host=HOST, port=PORT, handler=None, idle_timeout=IDLE_TIMEOUT, max_body=MAX_BODY_BYTES):
        self.host = host
        self.port = port
        self.handler = handler or describe_request
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
            except HTTPError as refused:
                response = error_response(refused.status, refused.message)
            except TimeoutError:
                response = error_response(HTTPStatus.REQUEST_TIMEOUT, "the request did not arrive in time")
            except ConnectionError:
                return
            try:
                client.sendall(response.to_bytes())
            except ConnectionError:
                pass  # the client is gone; nobody is left to tell

    def respond(self, request):
        """The handler's response to ``request``; a 500 page if the handler fails."""
        # TODO 7: call the handler; if it raises, log the traceback and answer 500
        # Read: docs/steps/2-parser.md#when-the-handler-fails
        raise NotImplementedError('TODO 7: call the handler; if it raises, log the traceback and answer 500 (see docs/steps/2-parser.md#when-the-handler-fails)')


def read_request(client, max_body=MAX_BODY_BYTES):
    """Receive from ``client`` until a whole request has arrived; return it.

    Returns ``None`` if the client hangs up before sending anything. Raises
    ``HTTPError`` for a request we refuse, ``TimeoutError`` if the client goes quiet.
    """
    # TODO 6: keep receiving until parse_request returns a request
    # Read: docs/steps/2-parser.md#reading-a-whole-request
    raise NotImplementedError('TODO 6: keep receiving until parse_request returns a request (see docs/steps/2-parser.md#reading-a-whole-request)')


def describe_request(request):
    """The demo handler: shows the request as the parser understood it.

    ``/echo`` sends the body back untouched; ``/error`` fails on purpose, to show a 500.
    Ask for JSON with ``Accept: application/json``.
    """
    if request.path == "/echo":
        return HTTPResponse(HTTPStatus.OK, request.body, content_type="application/octet-stream")
    if request.path == "/error":
        raise RuntimeError("this handler fails on purpose, to show what a 500 looks like")
    facts = {
        "method": request.method,
        "target": request.target,
        "path": request.path,
        "query_params": request.query_params,
        "version": request.version,
        "headers": [[name, value] for name, value in request.headers],
        "body_length": len(request.body),
    }
    if "application/json" in request.headers.get("Accept", ""):
        return HTTPResponse(HTTPStatus.OK, json.dumps(facts, indent=2), content_type="application/json")
    rows = "\n".join(
        f"<tr><th>{html.escape(name)}</th><td><code>{html.escape(json.dumps(value))}</code></td></tr>"
        for name, value in facts.items()
    )
    page = (
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>Your request</title>\n"
        "<h1>Your request, as the parser read it</h1>\n"
        f"<table>\n{rows}\n</table>\n"
    )
    return HTTPResponse(HTTPStatus.OK, page)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Step 2: a server that parses requests properly.")
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
