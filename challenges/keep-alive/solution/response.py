"""keep-alive: the response: status line, headers and body, as bytes, framed so the connection can go on.

    HTTP/1.1 200 OK\\r\\n                       status-line = HTTP-version SP status-code SP [ reason-phrase ]
    Content-Type: text/plain; charset=utf-8\\r\\n
    Transfer-Encoding: chunked\\r\\n            the length is not known in advance: the body comes in chunks
    Date: Wed, 25 Nov 2026 16:40:36 GMT\\r\\n   IMF-fixdate, always GMT (RFC 9110, section 5.6.7)
    Server: byo-http/keep-alive\\r\\n
    \\r\\n
    2\\r\\n                                    a chunk: its size in hex, CRLF, that many bytes, CRLF
    5\\n\\r\\n
    0\\r\\n                                    the last chunk: the body ends, the connection goes on
    \\r\\n
"""

import html
import time
from email.utils import formatdate
from http import HTTPStatus

from request import Headers

SERVER_NAME = "byo-http/keep-alive"

# Each status code HTTP names, with its reason phrase: a lookup here is cheaper than HTTPStatus(code).
REASONS = {status.value: status.phrase for status in HTTPStatus}

# The chunk of size 0 that ends a chunked body, with an empty trailer section.
LAST_CHUNK = b"0\r\n\r\n"

# Statuses whose responses never carry a body (RFC 9110, sections 15.3.5 and 15.4.5).
BODILESS_STATUSES = frozenset({HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED})

# The fields that frame a message, lower-cased: a handler's would be wrong, the framing is ours to state.
FRAMING_FIELDS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})

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
    With no ``length`` (a generator that does not know how much it will make),
    the body goes out in chunked transfer coding to an HTTP/1.1 client, and
    until the connection closes to an HTTP/1.0 one.

    The server says, before sending, what the connection does afterwards
    (``keep_alive``) and which HTTP version the client speaks (``client_version``).
    """

    send_body = True
    chunks = None
    length = None
    keep_alive = False  # whether the connection stays open after this response, if the framing allows
    client_version = "HTTP/1.1"  # HTTP/1.0 clients cannot read chunked transfer coding

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

    @property
    def has_body(self):
        """Whether this status carries a body at all: 204 and 304 never do (RFC 9110, sections 15.3.5 and 15.4.5)."""
        return self.status not in BODILESS_STATUSES

    @property
    def unknown_length(self):
        """Whether the body is streamed without a length given in advance."""
        return self.has_body and self.chunks is not None and self.length is None

    @property
    def chunked(self):
        """Whether the body goes out in chunks: its length is unknown, and the client reads chunked coding."""
        return self.unknown_length and self.client_version == "HTTP/1.1"

    @property
    def closes_connection(self):
        """Whether the connection ends after this response: it was asked to, or only the close can mark the body's end."""
        return not self.keep_alive or (self.unknown_length and not self.chunked)

    # --8<-- [start:to-bytes]
    def to_bytes(self):
        """The head, and the body unless it is streamed (``chunks``): ready for ``sendall``."""
        headers = Headers((name, value) for name, value in self.headers if name.lower() not in FRAMING_FIELDS)
        # >>> SOLUTION 3 #framing-each-response: frame the body with Content-Length, chunked or neither; say Connection: close, or keep-alive to HTTP/1.0
        if self.chunked:
            headers["Transfer-Encoding"] = "chunked"
        elif self.has_body and not self.unknown_length:
            headers["Content-Length"] = str(self.length if self.chunks is not None else len(self.body))
        if self.closes_connection:
            headers["Connection"] = "close"
        elif self.client_version == "HTTP/1.0":
            headers["Connection"] = "keep-alive"  # HTTP/1.0 closes by default: say that this one stays open
        # <<< SOLUTION
        if "Date" not in headers:
            headers.add("Date", http_date())
        if "Server" not in headers:
            headers.add("Server", SERVER_NAME)
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        lines += [f"{name}: {value}" for name, value in headers]
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("latin-1") + (self.body if self.send_body and self.chunks is None else b"")
    # --8<-- [end:to-bytes]

    # --8<-- [start:write-to]
    def write_to(self, client):
        """Send the whole response on ``client``, streaming ``chunks`` if there are any."""
        head = self.to_bytes()
        if not self.send_body or self.chunks is None:
            client.sendall(head)  # head and body in one write
            return
        # >>> SOLUTION 4 #sending-chunks: send each non-empty piece as a chunk (hex size, CRLF, the bytes, CRLF), then the last chunk
        for piece in self.chunks:
            if self.chunked:
                if not piece:
                    continue  # a chunk of size 0 is the last one: an empty piece must not end the body early
                piece = b"%x\r\n%b\r\n" % (len(piece), piece)
            client.sendall(head + piece)  # the head rides with the first piece: one write for a small file
            head = b""
        if self.chunked:
            head += LAST_CHUNK
        if head:
            client.sendall(head)  # an empty body: the head alone (and the last chunk)
        # <<< SOLUTION
    # --8<-- [end:write-to]


def error_response(status, message=""):
    """A short HTML page for an error status; ``message`` says what went wrong, in plain words."""
    status = HTTPStatus(status)
    text = f"<!doctype html>\n<title>{status.value} {status.phrase}</title>\n<h1>{status.value} {status.phrase}</h1>\n"
    if message:
        text += f"<p>{html.escape(message)}</p>\n"
    return HTTPResponse(status, text)
