"""Step 2 — the response: status line, headers and body, as bytes.

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
from email.utils import formatdate
from http import HTTPStatus

from request import Headers

SERVER_NAME = "byo-http/2"

# Each status code HTTP names, with its reason phrase: a lookup here is cheaper than HTTPStatus(code).
REASONS = {status.value: status.phrase for status in HTTPStatus}


class HTTPResponse:
    """A response a handler returns. ``body`` may be ``str`` (sent as UTF-8) or ``bytes``."""

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
        # TODO 5: set the framing headers yourself, then join status line, headers, blank line and body
        # Read: docs/steps/2-parser.md#writing-the-response
        raise NotImplementedError('TODO 5: set the framing headers yourself, then join status line, headers, blank line and body (see docs/steps/2-parser.md#writing-the-response)')


def error_response(status, message=""):
    """A short HTML page for an error status; ``message`` says what went wrong, in plain words."""
    status = HTTPStatus(status)
    text = f"<!doctype html>\n<title>{status.value} {status.phrase}</title>\n<h1>{status.value} {status.phrase}</h1>\n"
    if message:
        text += f"<p>{html.escape(message)}</p>\n"
    return HTTPResponse(status, text)
