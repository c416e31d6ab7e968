"""The yardstick for ``make bench``: Python's own ``http.server.ThreadingHTTPServer``.

    python -m lab.stdlib_server <body file> <status> <content type> [--keep-alive]

answers every GET with the same status, Content-Type and body as the
learner's server gave, so both servers send the same bytes. It prints its
port on the first line of stdout, and stops when stdin closes.

With --keep-alive it speaks HTTP/1.1, keeping each connection open for the
next request, and sets TCP_NODELAY: the fair yardstick for a keep-alive run.
"""

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def handler_for(status, content_type, body, keep_alive=False):
    class SameBytes(BaseHTTPRequestHandler):
        if keep_alive:
            # Its default, HTTP/1.0, closes after every response whatever the client asks.
            protocol_version = "HTTP/1.1"
            # The head and the body go out in two writes: without this, Nagle holds the second one
            # back until the client's delayed ACK arrives, up to 40 ms a request on a kept connection.
            disable_nagle_algorithm = True

        def do_GET(self):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass  # silent, as the learner's server is while it is measured

        def log_error(self, format, *args):
            pass  # a client that hangs up early is part of the load, not news

    return SameBytes


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # don't print a traceback for each client the load generator drops


def main(argv):
    keep_alive = "--keep-alive" in argv
    body_file, status, content_type = [arg for arg in argv if arg != "--keep-alive"]
    handler = handler_for(int(status), content_type, Path(body_file).read_bytes(), keep_alive)
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin (or dies)
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
