"""A third column for ``make bench``: waitress, a production WSGI server written in pure Python.

    python -m lab.waitress_server <body file> <status> <content type> [--keep-alive]

Like lab.stdlib_server, it answers every request with the same status,
Content-Type and body as the learner's server gave, prints its port on the
first line of stdout, says nothing else, and stops when stdin closes. It
needs waitress (the course's optional ``bench`` extra: ``pip install
waitress==3.0.2``).

waitress runs with its defaults (4 worker threads, select(), TCP_NODELAY,
HTTP/1.1 keep-alive whenever the client does not say close, so --keep-alive
changes nothing here), except for connection_limit, raised from 100 so that
it, too, serves every client of a 200-connection run and of the burst at once.
"""

import logging
import sys
import threading
from http import HTTPStatus
from pathlib import Path

from waitress import create_server

# Above the 500 clients of make bench's burst, and below 1,024: select() cannot watch a descriptor numbered higher.
CONNECTION_LIMIT = 900


def app_for(status, content_type, body):
    phrases = {known.value: known.phrase for known in HTTPStatus}
    status_line = f"{status} {phrases.get(status, 'Unknown')}"
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]

    def app(environ, start_response):
        start_response(status_line, list(headers))
        return [body]

    return app


def main(argv):
    body_file, status, content_type = [arg for arg in argv if arg != "--keep-alive"]
    # Silent, as the other servers are: waitress warns about its task queue under exactly this kind of load.
    logging.getLogger("waitress").setLevel(logging.CRITICAL + 1)
    app = app_for(int(status), content_type, Path(body_file).read_bytes())
    # Its default select(), not poll(): on this course's 2-CPU test machine, waitress with
    # asyncore_use_poll=True answered a fifth as many kept-open requests a second.
    server = create_server(app, host="127.0.0.1", port=0, connection_limit=CONNECTION_LIMIT)
    threading.Thread(target=server.run, daemon=True).start()
    print(server.effective_port, flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin (or dies)
    server.close()


if __name__ == "__main__":
    main(sys.argv[1:])
