"""Steps 2–5: the response: status line, headers and body, as bytes.

    HTTP/1.1 200 OK\\r\\n                       status-line = HTTP-version SP status-code SP [ reason-phrase ]
    Content-Type: text/html; charset=utf-8\\r\\n
    Content-Length: 229\\r\\n                   the body's size in bytes
    Date: Wed, 25 Nov 2026 16:40:36 GMT\\r\\n   IMF-fixdate, always GMT (RFC 9110, section 5.6.7)
    Server: byo-http/2\\r\\n
    Connection: close\\r\\n                     we close after every response, and say so
    \\r\\n
    <body bytes>
"""

import html
import time
from email.utils import formatdate
from http import HTTPStatus

from request import Headers

SERVER_NAME = "byo-http/5"

# Each status code HTTP names, with its reason phrase: a lookup here is cheaper than HTTPStatus(code).
REASONS = {status.value: status.phrase for status in HTTPStatus}

# (second, its IMF-fixdate): the Date header changes once a second, so it is formatted once a second.
_last_date = (0, "")


def http_date():
    """Now as an IMF-fixdate ("Wed, 25 Nov 2026 16:40:36 GMT"), the form the Date header takes.

    formatdate() costs more than the rest of a small response's head, and the
    text only changes once a second; ``make bench`` shows what reusing it saves.
    """
    global _last_date
    second = int(time.time())
    if _last_date[0] != second:
        _last_date = (second, formatdate(second, usegmt=True))  # one tuple: other threads see old or new, whole
    return _last_date[1]


class HTTPResponse:
    """A response a handler returns. ``body`` may be ``str`` (sent as UTF-8) or ``bytes``.

    ``send_body = False`` (the answer to a HEAD request) sends the head alone,
    with the ``Content-Length`` the body would have had.

    A large body can be streamed instead of held in memory: give ``chunks``
    (an iterable of bytes, such as a file read piece by piece) and ``length``
    (their total size); ``write_to(client)`` then sends them one at a time.
    """

    send_body = True
    chunks = None
    length = None

    def __init__(self, status=HTTPStatus.OK, body=b"", headers=None, content_type="text/html; charset=utf-8"):
        self.status = int(status)
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        self.headers = headers if isinstance(headers, Headers) else Headers((headers or {}).items())
        if "Content-Type" not in self.headers and self.body:
            self.headers.add("Content-Type", content_type)

    @property
    def reason(self):
        """The reason phrase for ``status``, e.g. "Not Found"; empty for codes HTTP does not name."""
        return REASONS.get(self.status, "")

    def to_bytes(self):
        """The whole response, ready for ``sendall``."""
        headers = Headers(self.headers)
        if self.status in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
            headers.remove("Content-Length")  # no body follows, so no length is given
        else:
            length = self.length if self.chunks is not None else len(self.body)
            headers["Content-Length"] = str(length)  # replaces any a handler set: we know best
        headers["Connection"] = "close"
        if "Date" not in headers:
            headers.add("Date", http_date())
        if "Server" not in headers:
            headers.add("Server", SERVER_NAME)
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        lines += [f"{name}: {value}" for name, value in headers]
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("latin-1") + (self.body if self.send_body and self.chunks is None else b"")

    def write_to(self, client):
        """Send the whole response on ``client``, streaming ``chunks`` if there are any."""
        head = self.to_bytes()
        if not self.send_body or self.chunks is None:
            client.sendall(head)  # head and body in one write
            return
        for chunk in self.chunks:
            client.sendall(head + chunk)  # the head rides with the first piece: one write for a small file
            head = b""
        if head:
            client.sendall(head)  # an empty file: the head alone


def error_response(status, message=""):
    """A short HTML page for an error status; ``message`` says what went wrong, in plain words."""
    status = HTTPStatus(status)
    text = f"<!doctype html>\n<title>{status.value} {status.phrase}</title>\n<h1>{status.value} {status.phrase}</h1>\n"
    if message:
        text += f"<p>{html.escape(message)}</p>\n"
    return HTTPResponse(status, text)
